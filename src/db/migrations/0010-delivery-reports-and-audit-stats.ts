import { type Kysely, sql } from "kysely";

/**
 * Delivery reports: which stream a provider message id belongs to (one id may carry several
 * recipients, each in their own stream), and the webhook tokens already used. Audit stats: event
 * counts per hour and type, rolled up behind a checkpoint so a month of the log is read once.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table sent_messages (
      provider_message_id text not null,
      stream_id text not null,
      kind text not null check (kind in ('reset', 'notice')),
      reference text not null,
      sent_event_id uuid not null,
      primary key (provider_message_id, stream_id)
    )`.execute(db);
  // The emails sent before this table existed.
  await sql`
    insert into sent_messages (provider_message_id, stream_id, kind, reference, sent_event_id)
    select btrim(data->>'providerMessageId', '<> '), stream_id,
           case when type = 'PasswordResetEmailSent' then 'reset' else 'notice' end,
           coalesce(data->>'requestId', data->>'changeEventId'), event_id
    from events
    where type in ('PasswordResetEmailSent', 'PasswordChangedNoticeSent')
      and coalesce(data->>'providerMessageId', '') <> ''
    on conflict do nothing`.execute(db);

  await sql`
    create table webhook_tokens (
      token text primary key,
      seen_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index webhook_tokens_by_age on webhook_tokens (seen_at)`.execute(db);

  // One row per hour, its counts by type in one object: a month is 720 rows whatever the types.
  await sql`
    create table audit_stats_hourly (
      hour timestamptz primary key,
      counts jsonb not null
    )`.execute(db);
  await sql`
    create table audit_stats_checkpoint (
      id integer primary key check (id = 1),
      last_transaction_id xid8 not null,
      last_position bigint not null
    )`.execute(db);
  await sql`insert into audit_stats_checkpoint values (1, '0', 0)`.execute(db);
}
