import { sql } from "kysely";
import type { Database } from "../db";
import type { Logger } from "../log";

export type LogProtection = "protected" | "unprotected";

export interface LogProtectionCheck {
  protection: LogProtection;
  /** What lets the server's own role rewrite the log (empty when protected). */
  reasons: string[];
}

/**
 * Whether the server's own database role could rewrite `events`: as a superuser, as (a member
 * of) its owner, who may disable or drop the append-only trigger, or with a privilege beyond
 * SELECT and INSERT. (The embedded database's only role is a superuser: never protected.)
 */
export async function checkLogProtection(database: Database): Promise<LogProtectionCheck> {
  const { rows } = await sql<{
    role: string;
    superuser: boolean;
    owner: boolean;
    update: boolean;
    delete: boolean;
    truncate: boolean;
  }>`
    select current_user as role,
           r.rolsuper as superuser,
           pg_has_role(current_user, c.relowner, 'MEMBER') as owner,
           has_table_privilege(c.oid, 'UPDATE') as update,
           has_table_privilege(c.oid, 'DELETE') as delete,
           has_table_privilege(c.oid, 'TRUNCATE') as truncate
      from pg_class c, pg_roles r
     where c.oid = to_regclass('events') and r.rolname = current_user`.execute(database.db);
  const row = rows[0];
  if (row === undefined) throw new Error("the events table is missing");
  const reasons = [
    ...(row.superuser ? ["superuser"] : []),
    ...(row.owner ? ["owner of events"] : []),
    ...(["update", "delete", "truncate"] as const)
      .filter((privilege) => row[privilege])
      .map((privilege) => `${privilege.toUpperCase()} on events`),
  ];
  return { protection: reasons.length === 0 ? "protected" : "unprotected", reasons };
}

/** In production on PostgreSQL, one warning line when the server's role could rewrite the log. */
export async function warnWhenLogUnprotected(database: Database, log: Logger): Promise<void> {
  if (database.kind !== "postgres") return;
  let check: LogProtectionCheck;
  try {
    check = await checkLogProtection(database);
  } catch (error) {
    log.warn("could not check whether the event log is protected", { error });
    return;
  }
  const { protection, reasons } = check;
  if (protection === "protected") return;
  log.warn(
    'event log unprotected: the server\'s database role can rewrite it; see README "Running with least privilege"',
    { can: reasons },
  );
}
