import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per issued code: the code's keyed hash, never the code.
  await sql`
    create table reset_codes (
      code_hash text primary key,
      request_id uuid not null unique,
      stream_id text not null,
      user_id uuid not null,
      requested_at timestamptz not null,
      expires_at timestamptz not null,
      status text not null default 'active'
        check (status in ('active', 'superseded', 'used', 'locked'))
    )`.execute(db);
  await sql`create unique index reset_codes_one_active_per_user on reset_codes (user_id)
            where status = 'active'`.execute(db);
  await sql`create index reset_codes_by_expiry on reset_codes (expires_at)`.execute(db);

  await sql`
    create table rate_limits (
      key text primary key,
      tat timestamptz not null
    )`.execute(db);
}
