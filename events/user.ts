import type { DeliveryReport, EmailFailed, EmailSent } from "./email";
import type { Event } from "./event";

/** Values named `sealed…` are sealed under the user's data key; erasure makes them unreadable. */
export type UserRegistered = Event<
  "UserRegistered",
  { userId: string; sealedEmail: string; sealedPasswordHash: string }
>;

export type UserLoggedIn = Event<
  "UserLoggedIn",
  {
    userId: string;
    sessionId: string;
    expiresAt: string;
    sealedIp: string;
    sealedUserAgent: string;
  }
>;

export type PasswordChanged = Event<
  "PasswordChanged",
  { userId: string; sealedPasswordHash: string; reason: "reset"; requestId: string }
>;

type Notice = { changeEventId: string };

export type PasswordChangedNoticeSent = EmailSent<"PasswordChangedNoticeSent", Notice>;
export type PasswordChangedNoticeFailed = EmailFailed<"PasswordChangedNoticeFailed", Notice>;

/** The provider's reports on a sent notice, as for reset emails. */
export type PasswordChangedNoticeReport = DeliveryReport<"PasswordChangedNotice", Notice>;

export type PersonalDataErased = Event<"PersonalDataErased", { userId: string }>;

export type UserEvent =
  | UserRegistered
  | UserLoggedIn
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
