import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // A user's reset streams, found through the requests that name the user (erased users too).
  await sql`create index events_reset_requests_by_user on events ((data->>'userId'), stream_id)
            where type = 'PasswordResetRequested'`.execute(db);
  await sql`create index events_by_recorded_at on events (recorded_at)`.execute(db);
}
