import { type Kysely, sql } from "kysely";

/**
 * Every event row maintains every index on `events`, inside the append. The ones kept, each
 * for the query that uses it: the primary key (audit `after=`), event_id (idempotent appends),
 * (stream_id, stream_version) (reading and appending a stream), events_by_commit (subscriptions
 * and audit pages in commit order), events_reset_requests_by_user (a user's reset streams,
 * partial: requests only).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Subscriptions read forward from a recent checkpoint through events_by_commit; the few rows
  // past it are filtered by type there. Only a type-only audit query across all users used it.
  await sql`drop index if exists events_by_type`.execute(db);
  // Events are appended in time order, so a BRIN range index serves audit from/to windows at
  // a fraction of a B-tree's upkeep per row.
  await sql`drop index if exists events_by_recorded_at`.execute(db);
  await sql`create index events_by_recorded_at on events using brin (recorded_at)`.execute(db);
}
