/**
 * The events the decider tests are given, in one place: account u-1's reset stream and user
 * stream, at times counted from T0, with sealed values as plain labels.
 */
import type { PasswordResetEvent } from "../../events/password-reset";
import type { UserRegistered } from "../../events/user";
import { MAX_FAILED_ATTEMPTS } from "../../src/password-reset/decider";

export const T0 = Date.parse("2026-11-27T10:00:00Z");
export const MIN = 60_000;
/** The code lifetime and dispatch window the fixtures' requests were recorded with. */
export const TTL = 10 * MIN;
export const DISPATCH_WINDOW_MS = 9_750;

/** A reset-stream event as read back from the log: evolve needs its time. */
export type RecordedResetEvent = PasswordResetEvent & { recordedAt: Date };

/** Account u-1's sealed values, as the service prepares them for its events. */
export const SEALED = {
  userId: "u-1",
  sealedEmail: "sealed:email",
  sealedIp: "sealed:ip",
  sealedUserAgent: "sealed:ua",
} as const;

/** The decider's events as the store records them at `at`. */
export const recorded = (events: readonly PasswordResetEvent[], at: number): RecordedResetEvent[] =>
  events.map((event) => ({ ...event, recordedAt: new Date(at) }) as RecordedResetEvent);

export const requested = (requestId: string, at: number, ipHash = "ip"): RecordedResetEvent => ({
  type: "PasswordResetRequested",
  recordedAt: new Date(at),
  data: {
    ...SEALED,
    requestId,
    codeHash: `hash-${requestId}`,
    sealedCode: `sealed:code:${requestId}`,
    expiresAt: new Date(at + TTL).toISOString(),
    dispatchDeadline: new Date(at + DISPATCH_WINDOW_MS).toISOString(),
    ipHash,
  },
});

export const sent = (requestId: string, at: number): RecordedResetEvent => ({
  type: "PasswordResetEmailSent",
  recordedAt: new Date(at),
  data: { requestId, provider: "mailgun", providerMessageId: `m-${requestId}`, attempts: 1 },
});

/** A request whose email the provider accepted: the only kind whose code works. */
export const delivered = (requestId: string, at: number): RecordedResetEvent[] => [
  requested(requestId, at),
  sent(requestId, at + 100),
];

export const failed = (requestId: string, at: number, reason: string): RecordedResetEvent => ({
  type: "PasswordResetEmailFailed",
  recordedAt: new Date(at),
  data: { requestId, reason, attempts: 1 },
});

export const completed = (requestId: string, at: number): RecordedResetEvent => ({
  type: "PasswordResetCompleted",
  recordedAt: new Date(at),
  data: { requestId, userId: "u-1", sealedIp: "sealed:ip", sealedUserAgent: "sealed:ua" },
});

/** A trigger for an email of no account, from client "ip". */
export const unknownEmail = (requestId: string, at: number): RecordedResetEvent => ({
  type: "PasswordResetRejected",
  recordedAt: new Date(at),
  data: { requestId, reason: "unknown_email", ipHash: "ip" },
});

/** A trigger refused by the email's burst limit, from client "ip". */
export const rateLimited = (requestId: string, at: number): RecordedResetEvent => ({
  type: "PasswordResetRejected",
  recordedAt: new Date(at),
  data: { requestId, reason: "rate_limited", limit: "email_burst", ipHash: "ip" },
});

/** Client "ip"'s wrong try number n (1-based) against r1, as the decider records it. */
export const wrongTry = (n: number): RecordedResetEvent => ({
  type: "PasswordResetCodeRejected",
  recordedAt: new Date(T0 + n * 1000),
  data: {
    requestId: "r1",
    reason: "wrong_code",
    failedAttempts: n,
    ...(n >= MAX_FAILED_ATTEMPTS ? { locked: true } : {}),
    ipHash: "ip",
  },
});

/** Enough wrong tries from client "ip" to lock r1 for it. */
export const lockingTries = (): RecordedResetEvent[] =>
  Array.from({ length: MAX_FAILED_ATTEMPTS }, (_, i) => wrongTry(i + 1));

export const registered = (userId = "u-1"): UserRegistered => ({
  type: "UserRegistered",
  data: { userId, sealedEmail: "sealed:email", sealedPasswordHash: "sealed:hash" },
});
