import { sql } from "kysely";
import type { Database } from "../db";

/**
 * At most once, across crashes: before a provider call, the ids of the emails it carries are
 * written down. An email redelivered after a crash or a takeover is sent only when it has no
 * mark; with one, it may already have left, and its outcome says `unknown`.
 */
export interface SendMarks {
  mark(emailIds: readonly string[]): Promise<void>;
  isMarked(emailId: string): Promise<boolean>;
}

export function databaseSendMarks(database: Database): SendMarks {
  const { db } = database;
  // A mark has to outlive this process. A PostgreSQL server keeps it without waiting for the
  // flush (lost only if both crash at once: an email may then go twice, never be lost); the
  // embedded database dies with the process, so there it is flushed before the call.
  const synchronousCommit = database.kind === "embedded" ? "on" : "off";
  return {
    async mark(emailIds) {
      await sql`
        insert into mail_send_marks (email_id)
        select unnest(${emailIds}::uuid[])
        where set_config('synchronous_commit', ${synchronousCommit}, true) is not null
        on conflict do nothing`.execute(db);
    },
    async isMarked(emailId) {
      const row = await db
        .selectFrom("mail_send_marks")
        .select("email_id")
        .where("email_id", "=", emailId)
        .executeTakeFirst();
      return row !== undefined;
    },
  };
}
