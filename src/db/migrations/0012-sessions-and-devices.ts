import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A session's last use (for the idle timeout) and its client, sealed under the user's data key.
  await sql`alter table sessions add column last_used_at timestamptz not null default now()`.execute(
    db,
  );
  await sql`alter table sessions add column sealed_ip text`.execute(db);
  await sql`alter table sessions add column sealed_user_agent text`.execute(db);

  // Device tokens (stored only as keyed hashes): a login presenting one is limited per device.
  await sql`
    create table device_tokens (
      token_hash text primary key,
      device_id uuid not null unique,
      user_id uuid not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      password_changed_at timestamptz
    )`.execute(db);
  await sql`create index device_tokens_by_user on device_tokens (user_id)`.execute(db);
  await sql`create index device_tokens_by_expiry on device_tokens (expires_at)`.execute(db);
}
