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

  // Refusals under an active limit, counted between the events that report them.
  await sql`
    create table refusal_tallies (
      stream_id text not null,
      limit_name text not null,
      first_at timestamptz not null,
      last_at timestamptz not null,
      refused integer not null,
      primary key (stream_id, limit_name)
    )`.execute(db);
  await sql`create index refusal_tallies_by_age on refusal_tallies (first_at)`.execute(db);
}
