import { sql } from "kysely";
import type { PasswordChanged, PersonalDataErased } from "../events/user";
import type { Db } from "../src/db";
import type { InlineProjection } from "../src/event-store";

/**
 * Sessions end with the credential that opened them: a password change or an erasure deletes
 * every session of the user, in the same transaction as the event. (Login writes the row
 * itself, beside its UserLoggedIn, because the token's hash never goes into an event; a
 * SessionEnded is appended by the request that deleted its row, in that row's transaction.)
 */
export const sessionsProjection: InlineProjection<PasswordChanged | PersonalDataErased> = {
  name: "sessions",
  handles: ["PasswordChanged", "PersonalDataErased"],
  async apply(trx, event) {
    const { userId } = event.data;
    await trx.deleteFrom("sessions").where("user_id", "=", userId).execute();
  },
};

/** An expired session opens nothing: its row goes (the log keeps its history). */
export async function sweepSessions(db: Db): Promise<void> {
  await sql`delete from sessions where expires_at < now()`.execute(db);
}
