import { type Kysely, sql } from "kysely";

/**
 * The emails a provider call was about to carry, written before the call: after a crash, an
 * email with a mark may have left (its outcome is recorded `unknown`, never sent again) and an
 * email without one did not (it is sent). Rows outlive every email's deadline, then go.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table mail_send_marks (
      email_id uuid primary key,
      marked_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index mail_send_marks_by_age on mail_send_marks using brin (marked_at)`.execute(
    db,
  );
}
