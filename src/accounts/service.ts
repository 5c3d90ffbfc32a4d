import { randomBytes, randomUUID } from "node:crypto";
import { sql } from "kysely";
import { userStreamId } from "../../events/user";
import type { AppContext } from "../context";
import { isUniqueViolation } from "../db";
import { HttpError, tooManyRequests } from "../http/errors";
import { type ClientInfo, requestMetadata } from "../http/request";
import { emailLookup, emailLookups, keyedHash, seal, unseal } from "../privacy";
import { limits, type WindowPolicy } from "../rate-limits/gcra";
import {
  clearWindow,
  clientLimitKey,
  refundWindow,
  takeWindow,
  type WindowHit,
} from "../rate-limits/store";
import { decideAccount, initialAccountState } from "./decider";
import { deviceLimitKey, deviceTokenHash, findDevice, newDeviceToken } from "./devices";
import { hashPassword, verifyPassword } from "./hashing";
import type { LoginRequest, PublicUser, Registration } from "./model";
import { hasLoneSurrogate } from "./rules";
import { DEVICE_TOKEN_TTL_MS, SESSION_TTL_MS } from "./session-rules";

const invalidCredentials = () => new HttpError(401, "invalid credentials");
// Verifying against this when the email is unknown keeps both failures equally slow.
const decoyHash = Bun.password.hash("decoy-password-for-unknown-accounts", {
  algorithm: "argon2id",
});

const ipKey = (ctx: AppContext, ip: string) => clientLimitKey(ctx.keyring, "auth-ip", ip);
// Keyed `<limit>:<email lookup>` like every per-account limit, so erasure finds and forgets it.
const accountKey = (ctx: AppContext, email: string) =>
  `login-account:${emailLookup(ctx.keyring, email)}`;

/** Takes one hit of each window, all or none: the first refusal gives the others back. */
async function takeAll(
  ctx: AppContext,
  windows: [key: string, policy: WindowPolicy][],
): Promise<[string, WindowHit][]> {
  const taken: [string, WindowHit][] = [];
  for (const [key, policy] of windows) {
    const hit = await takeWindow(ctx.db, key, policy);
    if (!hit.allowed) {
      await refundAll(ctx, taken);
      throw tooManyRequests(hit.retryAfterMs / 1000);
    }
    taken.push([key, hit]);
  }
  return taken;
}

const refundAll = (ctx: AppContext, taken: [string, WindowHit][]) =>
  Promise.all(taken.map(([key, hit]) => refundWindow(ctx.db, key, hit)));

/** An attempt that never got to the password (hashing busy, a fault) is no failure: hits go back. */
const giveBack =
  (ctx: AppContext, taken: [string, WindowHit][]) =>
  async (error: unknown): Promise<never> => {
    await refundAll(ctx, taken);
    throw error;
  };

/** A completed reset proves the owner: the account's failed logins are forgotten. */
export const forgetFailedLogins = (ctx: AppContext, email: string) =>
  clearWindow(ctx.db, accountKey(ctx, email));

type UserRow = { id: string; sealed_email: string; created_at: Date };

/** The user as the API shows it; undefined when the user's data key is gone (erased). */
export async function publicUser(ctx: AppContext, user: UserRow): Promise<PublicUser | undefined> {
  const key = await ctx.dataKeys.find(user.id);
  if (!key) return undefined;
  return {
    id: user.id,
    email: unseal(key, user.id, user.sealed_email),
    created_at: user.created_at.toISOString(),
  };
}

export const sessionTokenHash = (ctx: AppContext, token: string) =>
  keyedHash(ctx.keyring, "session", token);

const emailTaken = () => new HttpError(409, "email already registered");

export async function findUserByEmail(ctx: AppContext, email: string) {
  return ctx.db
    .selectFrom("users")
    .selectAll()
    .where("email_lookup", "in", emailLookups(ctx.keyring, email))
    .executeTakeFirst();
}

export async function registerUser(
  ctx: AppContext,
  credentials: Registration,
  client: ClientInfo,
): Promise<PublicUser> {
  // A taken email (409) tells that an account exists: counted like a failed login. Every
  // registration, successful or not, counts against the address's registrations, before hashing.
  const failedAuthKey = ipKey(ctx, client.ip);
  const taken = ctx.config.rateLimits
    ? await takeAll(ctx, [
        [failedAuthKey, limits.failedAuthPerIp],
        [clientLimitKey(ctx.keyring, "register-ip", client.ip), limits.registrationsPerIp],
      ])
    : [];
  // Hashing before the answer keeps a taken email from answering measurably faster.
  const [existing, passwordHash] = await Promise.all([
    findUserByEmail(ctx, credentials.email),
    hashPassword(credentials.password),
  ]).catch(giveBack(ctx, taken));
  const userId = randomUUID();
  try {
    await ctx.store.transact(async (trx) => {
      const key = await ctx.dataKeys.create(trx, userId);
      const decision = decideAccount(
        {
          type: "RegisterUser",
          userId,
          sealedEmail: seal(key, userId, credentials.email),
          sealedPasswordHash: seal(key, userId, passwordHash),
          ...(credentials.locale === undefined
            ? {}
            : { sealedLocale: seal(key, userId, credentials.locale) }),
        },
        initialAccountState,
        { emailTaken: existing !== undefined },
      );
      if ("rejected" in decision) throw emailTaken();
      const events = decision.map((e) => ({
        ...e,
        metadata: requestMetadata(client),
      }));
      return [{ streamId: userStreamId(userId), expectedVersion: 0, events }];
    });
  } catch (error) {
    // Two registrations of one email racing: the read model's unique index decides.
    if (isUniqueViolation(error, "users_email_lookup_key")) throw emailTaken();
    throw error;
  }
  // A success was no failed attempt; the registration itself stays counted.
  const failedAuthHit = taken.filter(([key]) => key === failedAuthKey);
  await refundAll(ctx, failedAuthHit);
  const user = await ctx.db
    .selectFrom("users")
    .select(["id", "created_at"])
    .where("id", "=", userId)
    .executeTakeFirstOrThrow();
  return { id: user.id, email: credentials.email, created_at: user.created_at.toISOString() };
}

/**
 * Opens a session: an opaque 256-bit token, stored only as a keyed hash, with an expiry. A login
 * presenting a live device token of the account is limited per device instead of per account
 * and client address; every success returns a device token (the same one, renewed, if valid).
 */
export async function login(
  ctx: AppContext,
  credentials: LoginRequest,
  client: ClientInfo,
): Promise<{ token: string; expires_at: string; device_token: string; user: PublicUser }> {
  const device =
    credentials.deviceToken === undefined
      ? undefined
      : await findDevice(ctx, credentials.deviceToken, credentials.email);
  // Every attempt takes a hit up front (a burst cannot outrun the budget); a success gives them back.
  // The owner's device has its own window: strangers tripping the account's cannot lock it out.
  const windows: [string, WindowPolicy][] = device
    ? [[deviceLimitKey(device), limits.failedLoginsPerDevice]]
    : [
        [ipKey(ctx, client.ip), limits.failedAuthPerIp],
        [accountKey(ctx, credentials.email), limits.failedLoginsPerAccount],
      ];
  const taken = ctx.config.rateLimits ? await takeAll(ctx, windows) : [];
  const user = await findUserByEmail(ctx, credentials.email);
  const verified = await verifyPassword(
    credentials.password,
    user?.password_hash ?? (await decoyHash),
  ).catch(giveBack(ctx, taken));
  // No stored hash came from an ill-formed password, whatever the hash function made of it.
  const valid = verified && !hasLoneSurrogate(credentials.password);
  const key = user && valid ? await ctx.dataKeys.find(user.id) : undefined;
  if (!user || !key) throw invalidCredentials();
  const shown = {
    id: user.id,
    email: credentials.email,
    created_at: user.created_at.toISOString(),
  };

  const token = randomBytes(32).toString("base64url");
  const sessionId = randomUUID();
  const now = Date.now();
  const expiresAt = new Date(now + SESSION_TTL_MS);
  const deviceToken = device ? (credentials.deviceToken as string) : newDeviceToken();
  const deviceId = device ?? randomUUID();
  const deviceExpiresAt = new Date(now + DEVICE_TOKEN_TTL_MS);
  const sealedIp = seal(key, user.id, client.ip);
  const sealedUserAgent = seal(key, user.id, client.userAgent);
  await ctx.store.transact(async (trx) => {
    // Only while the password is still the one just verified; the session keeps the password's
    // change time, copied in SQL (exact to the microsecond), so a later change ends it (`me`).
    // The device token is issued (or renewed) in the same statement, under the same condition.
    const deviceWrite = device
      ? sql`update device_tokens d set expires_at = ${deviceExpiresAt}
            from account where d.device_id = ${deviceId} and d.user_id = account.id`
      : sql`insert into device_tokens (token_hash, device_id, user_id, expires_at, password_changed_at)
            select ${deviceTokenHash(ctx, deviceToken)}, ${deviceId}, id, ${deviceExpiresAt},
                   password_changed_at
            from account`;
    const opened = await sql`
      with account as (
        select id, password_changed_at from users
        where id = ${user.id} and password_hash = ${user.password_hash}
      ), device as (${deviceWrite})
      insert into sessions (token_hash, session_id, user_id, expires_at, password_changed_at,
                            created_at, last_used_at, sealed_ip, sealed_user_agent)
      select ${sessionTokenHash(ctx, token)}, ${sessionId}, id, ${expiresAt}, password_changed_at,
             ${new Date(now)}, ${new Date(now)}, ${sealedIp}, ${sealedUserAgent}
      from account`.execute(trx);
    if (Number(opened.numAffectedRows ?? 0) !== 1) throw invalidCredentials();
    return [
      {
        streamId: userStreamId(user.id),
        expectedVersion: "any",
        events: [
          {
            type: "UserLoggedIn",
            data: {
              userId: user.id,
              sessionId,
              expiresAt: expiresAt.toISOString(),
              sealedIp,
              sealedUserAgent,
              deviceId,
            },
            metadata: requestMetadata(client),
          },
        ],
      },
    ];
  });
  // The password proves the device's holder: its earlier failures are forgotten with this one.
  if (device && ctx.config.rateLimits) await clearWindow(ctx.db, deviceLimitKey(device));
  else await refundAll(ctx, taken);
  return {
    token,
    expires_at: expiresAt.toISOString(),
    device_token: deviceToken,
    user: shown,
  };
}
