import type { UserEvent } from "../events/user";
import type { InlineProjection, RecordedEvent, Tx } from "../src/event-store";
import { type DataKeys, emailLookup, type Keyring } from "../src/privacy";
import { startResetStream } from "./reset-streams";

/** The accounts read model: one row per live user, written in the events' own transaction. */
export function usersProjection(deps: { dataKeys: DataKeys; keyring: Keyring }): InlineProjection {
  const unsealFor = async (trx: Tx, userId: string, sealed: string) => {
    const value = await deps.dataKeys.unseal(userId, sealed, trx);
    if (value === undefined) throw new Error(`user ${userId} has no data key`);
    return value;
  };

  return {
    name: "users",
    handles: ["UserRegistered", "PasswordChanged", "PersonalDataErased"],
    async apply(trx, recorded) {
      const event = recorded as RecordedEvent<UserEvent>;
      switch (event.type) {
        case "UserRegistered": {
          const { userId, sealedEmail, sealedPasswordHash } = event.data;
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
        case "PersonalDataErased":
          await trx.deleteFrom("users").where("id", "=", event.data.userId).execute();
          return;
      }
    },
  };
}
