import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { AppContext } from "../context";
import { emailLookups, keyedHash, keyedHashes } from "../privacy";

/** A device token is 256 random bits, like a session token, and stored only as a keyed hash. */
export const newDeviceToken = () => randomBytes(32).toString("base64url");

export const deviceTokenHash = (ctx: AppContext, token: string) =>
  keyedHash(ctx.keyring, "device", token);

/** The per-device failed-login window: named by the device's id, so erasure finds it. */
export const deviceLimitKey = (deviceId: string) => `login-device:${deviceId}`;

const WELL_FORMED = /^[A-Za-z0-9_-]{43}$/;

/**
 * The device a token names, when it is live and was issued to this email's account under its
 * current password; any other token (unknown, expired, another account's) counts as none.
 */
export async function findDevice(
  ctx: AppContext,
  token: string,
  email: string,
): Promise<string | undefined> {
  if (!WELL_FORMED.test(token)) return undefined;
  const hashes = keyedHashes(ctx.keyring, "device", token);
  const row = await ctx.db
    .selectFrom("device_tokens")
    .innerJoin("users", "users.id", "device_tokens.user_id")
    .select(["device_tokens.device_id", "device_tokens.token_hash"])
    .where("device_tokens.token_hash", "in", hashes)
    .where("users.email_lookup", "in", emailLookups(ctx.keyring, email))
    .where("device_tokens.expires_at", ">", new Date())
    .where(
      sql<boolean>`users.password_changed_at is not distinct from device_tokens.password_changed_at`,
    )
    .executeTakeFirst();
  // A token hashed under an older key moves to the first key when presented.
  if (row !== undefined && row.token_hash !== hashes[0]) {
    await ctx.db
      .updateTable("device_tokens")
      .set({ token_hash: hashes[0] })
      .where("device_id", "=", row.device_id)
      .where("token_hash", "=", row.token_hash)
      .execute();
  }
  return row?.device_id;
}
