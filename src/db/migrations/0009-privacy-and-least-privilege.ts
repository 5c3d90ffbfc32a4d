import { type Kysely, sql } from "kysely";

/** The role the server runs as: it may read and append events, never rewrite them. */
export const SERVICE_ROLE = "reset_ledger_service";

export async function up(db: Kysely<unknown>): Promise<void> {
  // An email's reset stream when it has one of its own (a registered or an erased address): a
  // random id, so once erasure replaces the row nothing, not even SECRET_KEY, leads back.
  await sql`
    create table reset_streams (
      email_lookup text primary key,
      stream_id text not null unique
    )`.execute(db);
  // Each code is sealed under its request's own key; the row goes when the outcome is recorded.
  await sql`
    create table reset_code_keys (
      request_id uuid primary key,
      wrapped_key bytea not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index reset_code_keys_by_age on reset_code_keys (created_at)`.execute(db);
  // Keys of the client-IP hashes, one per epoch; a past epoch's key is deleted.
  await sql`
    create table ip_hash_keys (
      epoch integer primary key,
      wrapped_key bytea not null
    )`.execute(db);

  await createServiceRole(db);
}

/**
 * Roles are cluster-wide while databases (one per test file) migrate in parallel: creation
 * tolerates the role existing already or being created by a concurrent transaction (which
 * surfaces as a unique violation once that transaction commits).
 */
export async function createRoleIfMissing(
  db: Pick<Kysely<unknown>, "getExecutor">,
  name: string,
): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain role name: ${name}`);
  await sql
    .raw(`
    do $$ begin
      create role ${name} nologin;
    exception
      when duplicate_object or unique_violation then null;
      when insufficient_privilege then
        raise warning 'role ${name} not created: the migrating user lacks CREATEROLE';
    end $$`)
    .execute(db);
}

/** Without CREATEROLE (and no role made beforehand) the server simply runs as the owner. */
async function createServiceRole(db: Kysely<unknown>): Promise<void> {
  await createRoleIfMissing(db, SERVICE_ROLE);
  const { rows } = await sql`select 1 from pg_roles where rolname = ${SERVICE_ROLE}`.execute(db);
  if (rows.length === 0) return;
  const role = sql.id(SERVICE_ROLE);
  await sql`grant usage on schema public to ${role}`.execute(db);
  await sql`grant select, insert, update, delete on all tables in schema public to ${role}`.execute(
    db,
  );
  await sql`grant usage, select on all sequences in schema public to ${role}`.execute(db);
  // Tables that later migrations create (as this owner) are the service's to use as well.
  await sql`alter default privileges in schema public
            grant select, insert, update, delete on tables to ${role}`.execute(db);
  await sql`alter default privileges in schema public
            grant usage, select on sequences to ${role}`.execute(db);
  // The log: read and append only. Migrations stay the owner's (read-only to the service).
  await sql`revoke update, delete, truncate on events from ${role}`.execute(db);
  await sql`revoke insert, update, delete on kysely_migration, kysely_migration_lock from ${role}`.execute(
    db,
  );
}
