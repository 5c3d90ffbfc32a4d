import type { PasswordChanged, PersonalDataErased, UserRegistered } from "../events/user";
import type { InlineProjection, Tx } from "../src/event-store";
import { type DataKeys, emailLookup, type Keyring } from "../src/privacy";
import { forgetLimitsOf } from "../src/rate-limits/store";
import { startResetStream } from "./reset-streams";

/**
 * The accounts read model: one row per live user, written in the events' own transaction. It
 * alone knows an account's email lookup, so what is kept by the lookup goes with its row: at
 * erasure the address gets a fresh reset stream and the limits kept by the lookup or the user
 * id are forgotten, in the same handler (another projection would find the row already gone).
 */
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
          // Nothing leads from the email back to the erased user's requests any more.
          if (gone) await startResetStream(trx, gone.email_lookup);
          await forgetLimitsOf(trx, [userId, ...(gone ? [gone.email_lookup] : [])]);
          return;
        }
      }
    },
  };
}
