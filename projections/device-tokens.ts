import { sql } from "kysely";
import type { PasswordChanged, PersonalDataErased } from "../events/user";
import type { Db } from "../src/db";
import type { InlineProjection } from "../src/event-store";

/**
 * Device tokens end with the password they were issued under, and with the person: a password
 * change or an erasure deletes the user's tokens and their failed-login windows, in the same
 * transaction as the event. (Login writes the rows itself: a token's hash never goes into an
 * event.) A stranger who once knew the password keeps no way around the account's limit.
 */
export const deviceTokensProjection: InlineProjection<PasswordChanged | PersonalDataErased> = {
  name: "device-tokens",
  handles: ["PasswordChanged", "PersonalDataErased"],
  async apply(trx, event) {
    const { userId } = event.data;
    await sql`delete from rate_windows where key in (
                select 'login-device:' || device_id from device_tokens where user_id = ${userId})`.execute(
      trx,
    );
    await trx.deleteFrom("device_tokens").where("user_id", "=", userId).execute();
  },
};

/** An expired device token counts as none at login: the row goes. */
export async function sweepDeviceTokens(db: Db): Promise<void> {
  await sql`delete from device_tokens where expires_at < now()`.execute(db);
}
