import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table data_keys (
      subject_id uuid primary key,
      wrapped_key bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    -- The email is sealed under the user's data key, like everywhere else; lookups use its keyed hash.
    create table users (
      id uuid primary key,
      sealed_email text not null,
      email_lookup text not null unique,
      password_hash text not null,
      created_at timestamptz not null,
      password_changed_at timestamptz
    )`.execute(db);
}
