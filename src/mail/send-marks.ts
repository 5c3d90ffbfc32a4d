import { sql } from "kysely";
import { type Database, type Db, runRead, runStatement } from "../db";

/**
 * At most once, across crashes: before a provider call, the ids of the emails it carries are
 * written down. An email redelivered after a crash or a takeover is sent only when it has no
 * mark; with one, it may already have left, and its outcome says `unknown`.
 */
export interface SendMarks {
  mark(emailIds: readonly string[]): Promise<void>;
  isMarked(emailId: string): Promise<boolean>;
}

const MARK = `
  insert into mail_send_marks (email_id)
  select unnest($1::uuid[])
  where set_config('synchronous_commit', $2, true) is not null
  on conflict do nothing`;

const IS_MARKED = "select 1 from mail_send_marks where email_id = $1";

export function databaseSendMarks(database: Database): SendMarks {
  const { db, aside } = database;
  return {
    async mark(emailIds) {
      // A mark has to outlive this process. On a PostgreSQL server it goes on the connection set
      // aside from the pool (a provider call waits for it) and is not flushed before the call
      // (lost only if the machine crashes at once: an email may then go twice, never be lost);
      // the embedded database dies with the process, so there it is flushed.
      if (aside) await aside("mail-send-marks", MARK, [emailIds, "off"]);
      else await runStatement(db, MARK, [emailIds, "on"]);
    },
    async isMarked(emailId) {
      return (await runRead(db, IS_MARKED, [emailId])).length > 0;
    },
  };
}

/** Every email's deadline is long past: nothing asks whether it was about to be sent. */
export async function sweepSendMarks(db: Db): Promise<void> {
  await sql`delete from mail_send_marks where marked_at < now() - interval '1 day'`.execute(db);
}
