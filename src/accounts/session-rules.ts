import type { SessionEndReason } from "../../events/user";

/** A session lives 24 hours from login at most, and ends sooner when left unused (idle). */
export const SESSION_TTL_MS = 24 * 60 * 60 * 1000;

/** Device tokens outlive sessions: a login that presents one renews it for this long. */
export const DEVICE_TOKEN_TTL_MS = 90 * 24 * 60 * 60 * 1000;

const MINUTE_MS = 60_000;

/** What `me` and the session routes read of a session: its times and whether its password stands. */
export interface SessionTimes {
  expiresAt: Date;
  lastUsedAt: Date;
  /** The user's password is still the one the session was opened with. */
  passwordUnchanged: boolean;
}

/** Whether a presented session is live, or why it is over (the reason its end is recorded with). */
export function sessionStatus(
  session: SessionTimes,
  now: number,
  idleMs: number,
): "live" | Extract<SessionEndReason, "idle" | "expired" | "reset"> {
  if (!session.passwordUnchanged) return "reset";
  if (session.expiresAt.getTime() <= now) return "expired";
  if (session.lastUsedAt.getTime() <= now - idleMs) return "idle";
  return "live";
}

/**
 * Whether a use of a live session writes its last-use time. Writing on every `me` would put an
 * UPDATE on the hottest read: the time is written once it is a minute old (a quarter of the
 * idle timeout when that is shorter), so a session in use never idles out, to within that.
 */
export function lastUseIsStale(lastUsedAt: Date, now: number, idleMs: number): boolean {
  return now - lastUsedAt.getTime() >= Math.min(MINUTE_MS, idleMs / 4);
}

/** Session ids are UUIDs; anything else in the path is a malformed id. */
export const isSessionId = (id: string) =>
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
