import type { Event } from "../src/event-store";

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

export type PasswordChangedNoticeSent = Event<
  "PasswordChangedNoticeSent",
  { changeEventId: string; provider: string; providerMessageId: string; attempts: number }
>;

export type PasswordChangedNoticeFailed = Event<
  "PasswordChangedNoticeFailed",
  { changeEventId: string; reason: string; status?: number; attempts: number }
>;

export type PersonalDataErased = Event<"PersonalDataErased", { userId: string }>;

export type UserEvent =
  | UserRegistered
  | UserLoggedIn
  | PasswordChanged
  | PasswordChangedNoticeSent
  | PasswordChangedNoticeFailed
  | PersonalDataErased;

export const userStreamId = (userId: string) => `user-${userId}`;
