import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<unknown>): Promise<void> {
  // The language the account's emails are written in, sealed under the user's data key like its
  // email; null: the request's Accept-Language, else MAIL_DEFAULT_LOCALE. The table's grants
  // cover the new column.
  await sql`alter table users add column sealed_locale text`.execute(db);
  // The language a code was sent in, so the password-changed notice that follows its use speaks it.
  await sql`alter table reset_codes add column locale text`.execute(db);
}
