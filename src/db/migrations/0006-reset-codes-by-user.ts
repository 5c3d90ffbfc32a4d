import { type Kysely, sql } from "kysely";

/**
 * Superseding and inserting a code become one statement, which a partial unique index on the
 * active code cannot follow within a statement; the stream's decider is what keeps one code
 * live, so a plain index serves the lookups.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`drop index reset_codes_one_active_per_user`.execute(db);
  await sql`create index reset_codes_by_user on reset_codes (user_id) where status = 'active'`.execute(
    db,
  );
}
