import type { DeliveryReport, EmailFailed, EmailSent } from "./email";
import type { Event } from "./event";

/** Values named `sealed…` are sealed under the user's data key; erasure makes them unreadable. */
export type UserRegistered = Event<
  "UserRegistered",
  {
    userId: string;
    sealedEmail: string;
    sealedPasswordHash: string;
    /** The language the account's emails are written in (BCP 47), when it chose one. */
    sealedLocale?: string;
  }
>;

export type UserLoggedIn = Event<
  "UserLoggedIn",
  {
    userId: string;
    sessionId: string;
    expiresAt: string;
    sealedIp: string;
    sealedUserAgent: string;
    /** The device token this login issued or renewed (absent before device tokens existed). */
    deviceId?: string;
  }
>;

/**
 * Why a session ended: the holder logged out or ended it from another session (`revoked`), it
 * went unused too long (`idle`) or reached its lifetime (`expired`) and was presented again, or
 * a password reset ended it. An erasure ends every session with `PersonalDataErased` itself.
 */
export type SessionEndReason = "logout" | "revoked" | "idle" | "expired" | "reset";

export type SessionEnded = Event<
  "SessionEnded",
  {
    userId: string;
    sessionId: string;
    reason: SessionEndReason;
    /** The session that ended this one (`revoked`). */
    bySessionId?: string;
    /** The client that ended it (`logout`, `revoked`). */
    sealedIp?: string;
    sealedUserAgent?: string;
  }
>;

/** `locale`: the language of the reset email whose code made the change (its notice's too). */
export type PasswordChanged = Event<
  "PasswordChanged",
  {
    userId: string;
    sealedPasswordHash: string;
    reason: "reset";
    requestId: string;
    locale?: string;
  }
>;

type Notice = { changeEventId: string };

export type PasswordChangedNoticeSent = EmailSent<
  "PasswordChangedNoticeSent",
  Notice & { locale?: string }
>;
export type PasswordChangedNoticeFailed = EmailFailed<"PasswordChangedNoticeFailed", Notice>;

/** The provider's reports on a sent notice, as for reset emails. */
export type PasswordChangedNoticeReport = DeliveryReport<"PasswordChangedNotice", Notice>;

/** `erasedBy`: the name of the audit token that erased (absent on erasures before named tokens). */
export type PersonalDataErased = Event<"PersonalDataErased", { userId: string; erasedBy?: string }>;

export type UserEvent =
  | UserRegistered
  | UserLoggedIn
  | SessionEnded
  | PasswordChanged
  | PasswordChangedNoticeSent
  | PasswordChangedNoticeFailed
  | PasswordChangedNoticeReport
  | PersonalDataErased;

const USER_STREAM_PREFIX = "user-";

export const userStreamId = (userId: string) => `${USER_STREAM_PREFIX}${userId}`;

/** The user whose stream `streamId` is; undefined for a stream of any other family. */
export const userOfStream = (streamId: string): string | undefined =>
  streamId.startsWith(USER_STREAM_PREFIX) ? streamId.slice(USER_STREAM_PREFIX.length) : undefined;
