import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A session belongs to the password it was opened with: once that changes, it is dead.
  await sql`alter table sessions add column password_changed_at timestamptz`.execute(db);

  // Sliding-window limits: the times of the hits still inside the window, at most `max` of them.
  await sql`
    create table rate_windows (
      key text primary key,
      hits timestamptz[] not null,
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index rate_windows_by_expiry on rate_windows (expires_at)`.execute(db);
}
