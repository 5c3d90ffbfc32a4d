import { sql } from "kysely";
import { type SessionEnded, type SessionEndReason, userStreamId } from "../../events/user";
import type { AppContext } from "../context";
import type { StreamWrite } from "../event-store";
import { HttpError } from "../http/errors";
import { type ClientInfo, requestMetadata } from "../http/request";
import { keyedHashes, seal, unseal } from "../privacy";
import type { PublicUser } from "./model";
import { publicUser } from "./service";
import { isSessionId, lastUseIsStale, type SessionTimes, sessionStatus } from "./session-rules";

const unauthorized = () => new HttpError(401, "unauthorized");
const sessionNotFound = () => new HttpError(404, "session not found");

type Metadata = ReturnType<typeof requestMetadata>;

/** A live session and its user, as `me` and the session routes see the caller. */
export interface Caller {
  sessionId: string;
  user: PublicUser;
  key: Buffer;
}

const idleMs = (ctx: AppContext) => ctx.config.sessionIdleSeconds * 1000;

const timesOf = (row: {
  expires_at: Date;
  last_used_at: Date;
  password_unchanged: boolean;
}): SessionTimes => ({
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
  passwordUnchanged: row.password_unchanged,
});

// A session opened against a password that has changed since is over, however it raced.
const passwordUnchanged = sql<boolean>`users.password_changed_at is not distinct from sessions.password_changed_at`;

/** Sessions with what sessionStatus reads of each (timesOf), their user joined. */
const sessionsWithTimes = (ctx: AppContext) =>
  ctx.db
    .selectFrom("sessions")
    .innerJoin("users", "users.id", "sessions.user_id")
    .select([
      "sessions.session_id",
      "sessions.expires_at",
      "sessions.last_used_at",
      passwordUnchanged.as("password_unchanged"),
    ]);

/**
 * The caller behind a bearer token, if its session is live. A session found over (idle, expired,
 * or outlived by a password change) is ended now, its end recorded, and the caller refused.
 */
export async function authenticate(
  ctx: AppContext,
  authorization: string | null,
  client: ClientInfo,
): Promise<Caller> {
  const token = authorization?.match(/^Bearer ([A-Za-z0-9_-]{20,200})$/)?.[1];
  if (!token) throw unauthorized();
  const hashes = keyedHashes(ctx.keyring, "session", token);
  const row = await sessionsWithTimes(ctx)
    .select(["sessions.token_hash", "users.id", "users.sealed_email", "users.created_at"])
    .where("sessions.token_hash", "in", hashes)
    .executeTakeFirst();
  if (!row) throw unauthorized();
  const now = Date.now();
  const status = sessionStatus(timesOf(row), now, idleMs(ctx));
  if (status !== "live") {
    await endSession(ctx, { userId: row.id, sessionId: row.session_id }, status, client);
    throw unauthorized();
  }
  const user = await publicUser(ctx, row);
  const key = await ctx.dataKeys.find(row.id);
  if (!user || !key) throw unauthorized();
  // A session hashed under an older key moves to the first key when used, so it outlives the old key.
  if (row.token_hash !== hashes[0]) {
    await ctx.db
      .updateTable("sessions")
      .set({ token_hash: hashes[0] })
      .where("session_id", "=", row.session_id)
      .where("token_hash", "=", row.token_hash)
      .execute();
  }
  if (lastUseIsStale(row.last_used_at, now, idleMs(ctx))) {
    await ctx.db
      .updateTable("sessions")
      .set({ last_used_at: new Date(now) })
      .where("session_id", "=", row.session_id)
      .execute();
  }
  return { sessionId: row.session_id, user, key };
}

/**
 * Ends one session: its row goes and SessionEnded is appended, in one transaction. Only the
 * request that deletes the row records the end, so two racing ends make one event. False when
 * the session was already gone.
 */
async function endSession(
  ctx: AppContext,
  session: { userId: string; sessionId: string },
  reason: SessionEndReason,
  client: ClientInfo,
  by?: { sessionId?: string; key: Buffer },
): Promise<boolean> {
  const { events } = await ctx.store.transact(async (trx) => {
    const gone = await trx
      .deleteFrom("sessions")
      .where("session_id", "=", session.sessionId)
      .where("user_id", "=", session.userId)
      .returning("session_id")
      .executeTakeFirst();
    if (!gone) return [];
    const data: SessionEnded["data"] = { ...session, reason };
    if (by?.sessionId !== undefined) data.bySessionId = by.sessionId;
    if (by) {
      data.sealedIp = seal(by.key, session.userId, client.ip);
      data.sealedUserAgent = seal(by.key, session.userId, client.userAgent);
    }
    return [
      {
        streamId: userStreamId(session.userId),
        expectedVersion: "any",
        events: [{ type: "SessionEnded", data, metadata: requestMetadata(client) }],
      },
    ];
  });
  return events.length > 0;
}

/** POST /v1/auth/logout: the presented session ends. */
export async function logout(
  ctx: AppContext,
  authorization: string | null,
  client: ClientInfo,
): Promise<void> {
  const caller = await authenticate(ctx, authorization, client);
  await endSession(ctx, { userId: caller.user.id, sessionId: caller.sessionId }, "logout", client, {
    key: caller.key,
  });
}

export interface SessionView {
  id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  current: boolean;
}

/** GET /v1/auth/sessions: the caller's live sessions, newest first. */
export async function listSessions(
  ctx: AppContext,
  authorization: string | null,
  client: ClientInfo,
): Promise<SessionView[]> {
  const caller = await authenticate(ctx, authorization, client);
  const userId = caller.user.id;
  const now = Date.now();
  const rows = await sessionsWithTimes(ctx)
    .select(["sessions.created_at", "sessions.sealed_ip", "sessions.sealed_user_agent"])
    .where("sessions.user_id", "=", userId)
    .orderBy("sessions.created_at", "desc")
    .execute();
  const open = (sealed: string | null) =>
    sealed === null ? null : unseal(caller.key, userId, sealed);
  return rows
    .filter((row) => sessionStatus(timesOf(row), now, idleMs(ctx)) === "live")
    .map((row) => ({
      id: row.session_id,
      created_at: row.created_at.toISOString(),
      last_used_at: row.last_used_at.toISOString(),
      expires_at: row.expires_at.toISOString(),
      ip: open(row.sealed_ip),
      user_agent: open(row.sealed_user_agent),
      current: row.session_id === caller.sessionId,
    }));
}

/** DELETE /v1/auth/sessions/{id}: ends one of the caller's own sessions. */
export async function revokeSession(
  ctx: AppContext,
  authorization: string | null,
  sessionId: string,
  client: ClientInfo,
): Promise<void> {
  const caller = await authenticate(ctx, authorization, client);
  if (!isSessionId(sessionId)) throw new HttpError(400, "invalid session id");
  const userId = caller.user.id;
  const row = await sessionsWithTimes(ctx)
    .where("sessions.session_id", "=", sessionId.toLowerCase())
    .where("sessions.user_id", "=", userId)
    .executeTakeFirst();
  // Another user's session is answered like an unknown one.
  if (!row) throw sessionNotFound();
  const session = { userId, sessionId: sessionId.toLowerCase() };
  const status = sessionStatus(timesOf(row), Date.now(), idleMs(ctx));
  if (status !== "live") {
    await endSession(ctx, session, status, client);
    throw sessionNotFound();
  }
  const ended = await endSession(ctx, session, "revoked", client, {
    sessionId: caller.sessionId,
    key: caller.key,
  });
  if (!ended) throw sessionNotFound();
}

/**
 * Names, in a password change's write to the user's stream, every session the change ends, each
 * with why it is over (most are live: `reset`). The write is pinned to the stream's version read
 * before the sessions, so a login or an end that commits in between makes the append conflict
 * and the change re-decide with a fresh list: the log names exactly the sessions it ended.
 */
export async function endSessionsWith(
  ctx: AppContext,
  write: StreamWrite,
  userId: string,
  metadata: Metadata,
): Promise<void> {
  const version = await ctx.store.streamVersion(write.streamId);
  const rows = await sessionsWithTimes(ctx)
    .where("sessions.user_id", "=", userId)
    .orderBy("sessions.created_at")
    .execute();
  const now = Date.now();
  write.expectedVersion = version;
  for (const row of rows) {
    const status = sessionStatus(timesOf(row), now, idleMs(ctx));
    const ended: SessionEnded = {
      type: "SessionEnded",
      data: { userId, sessionId: row.session_id, reason: status === "live" ? "reset" : status },
    };
    write.events.push({ ...ended, metadata });
  }
}
