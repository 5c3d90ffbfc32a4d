import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // Session tokens are stored only as keyed hashes.
  await sql`
    create table sessions (
      token_hash text primary key,
      session_id uuid not null unique,
      user_id uuid not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index sessions_by_user on sessions (user_id)`.execute(db);
}
