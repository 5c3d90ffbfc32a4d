import type { Db } from "../db";

/**
 * At most once, across crashes: before a provider call, the ids of the emails it carries are
 * written down. An email redelivered after a crash or a takeover is sent only when it has no
 * mark; with one, it may already have left, and its outcome says `unknown`.
 */
export interface SendMarks {
  mark(emailIds: readonly string[]): Promise<void>;
  isMarked(emailId: string): Promise<boolean>;
}

export function databaseSendMarks(db: Db): SendMarks {
  return {
    async mark(emailIds) {
      await db
        .insertInto("mail_send_marks")
        .values(emailIds.map((email_id) => ({ email_id })))
        .onConflict((oc) => oc.doNothing())
        .execute();
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
