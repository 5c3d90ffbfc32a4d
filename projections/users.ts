import { sql } from "kysely";
import type { PasswordChanged, PersonalDataErased, UserRegistered } from "../events/user";
import type { InlineProjection, Tx } from "../src/event-store";
import { type DataKeys, emailLookup, type Keyring } from "../src/privacy";
import { startResetStream } from "./reset-streams";

/**
 * The limits kept for an account go with it: rows keyed `<limit>:<user id>` or
 * `<limit>:<email lookup>` (hex or a uuid, so no LIKE wildcard inside), in both limit tables.
 */
async function forgetLimitsOf(trx: Tx, subjects: string[]): Promise<void> {
  const keys = subjects.map((subject) => `%:${subject}`);
  await sql`delete from rate_windows where key like any(${keys}::text[])`.execute(trx);
  await sql`delete from rate_limits where key like any(${keys}::text[])`.execute(trx);
}

/** The accounts read model: one row per live user, written in the events' own transaction. */
export function usersProjection(deps: {
  dataKeys: DataKeys;
  keyring: Keyring;
}): InlineProjection<UserRegistered | PasswordChanged | PersonalDataErased> {
  const unsealFor = async (trx: Tx, userId: string, sealed: string) => {
    const value = await deps.dataKeys.unseal(userId, sealed, trx);
    if (value === undefined) throw new Error(`user ${userId} has no data key`);
    return value;
  };

  return {
    name: "users",
    handles: ["UserRegistered", "PasswordChanged", "PersonalDataErased"],
    async apply(trx, event) {
      switch (event.type) {
        case "UserRegistered": {
          const { userId, sealedEmail, sealedPasswordHash, sealedLocale } = event.data;
          const email = await unsealFor(trx, userId, sealedEmail);
          const lookup = emailLookup(deps.keyring, email);
          await trx
            .insertInto("users")
            .values({
              id: userId,
              sealed_email: sealedEmail,
              email_lookup: lookup,
              password_hash: await unsealFor(trx, userId, sealedPasswordHash),
              created_at: event.recordedAt,
              sealed_locale: sealedLocale ?? null,
            })
            .execute();
          // The account's requests go to a stream of its own, apart from anyone's before it.
          await startResetStream(trx, lookup);
          return;
        }
        case "PasswordChanged":
          await trx
            .updateTable("users")
            .set({
              password_hash: await unsealFor(trx, event.data.userId, event.data.sealedPasswordHash),
              password_changed_at: event.recordedAt,
            })
            .where("id", "=", event.data.userId)
            .execute();
          return;
        case "PersonalDataErased": {
          const { userId } = event.data;
          const gone = await trx
            .deleteFrom("users")
            .where("id", "=", userId)
            .returning("email_lookup")
            .executeTakeFirst();
          await forgetLimitsOf(trx, [userId, ...(gone ? [gone.email_lookup] : [])]);
          return;
        }
      }
    },
  };
}
