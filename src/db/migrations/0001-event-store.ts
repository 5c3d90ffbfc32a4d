import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table events (
      global_position bigint generated always as identity primary key,
      transaction_id xid8 not null default pg_current_xact_id(),
      event_id uuid not null unique,
      stream_id text not null,
      stream_version integer not null check (stream_version > 0),
      type text not null,
      data jsonb not null,
      metadata jsonb not null default '{}',
      recorded_at timestamptz not null default now(),
      unique (stream_id, stream_version)
    )`.execute(db);
  await sql`create index events_by_commit on events (transaction_id, global_position)`.execute(db);
  await sql`create index events_by_type on events (type, transaction_id, global_position)`.execute(
    db,
  );
  await sql`
    create function events_are_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'events are append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  await sql`
    create trigger events_no_update_or_delete before update or delete on events
      for each row execute function events_are_append_only()`.execute(db);
  await sql`
    create trigger events_no_truncate before truncate on events
      for each statement execute function events_are_append_only()`.execute(db);

  await sql`
    create table subscriptions (
      name text primary key,
      last_transaction_id xid8 not null default '0',
      last_position bigint not null default 0,
      owner text,
      lease_expires_at timestamptz,
      updated_at timestamptz not null default now()
    )`.execute(db);
}
