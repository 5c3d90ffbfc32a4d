import type { DeliveryReport, EmailFailed, EmailSent } from "./email";
import type { Event } from "./event";

/**
 * One stream per email address: `password-reset-<uuid>`, the uuid a keyed hash of the normalised
 * email, so requests for unknown addresses share a history (and its limits) without naming it.
 * Values named `sealed…` are sealed under the user's data key; the code exists only as a keyed
 * hash (`codeHash`) and a seal (`sealedCode`).
 */
export type PasswordResetRequested = Event<
  "PasswordResetRequested",
  {
    requestId: string;
    userId: string;
    codeHash: string;
    sealedCode: string;
    sealedEmail: string;
    sealedIp: string;
    sealedUserAgent: string;
    expiresAt: string;
    /** After this instant the email is never sent; the handler has answered 500 by then. */
    dispatchDeadline: string;
    /** The client's keyed IP hash: the email's limits are counted per client (absent in old events). */
    ipHash?: string;
    /** The email's language: the account's, else the request's Accept-Language (absent in old events). */
    locale?: string;
  }
>;

export type ResetRejectionReason = "unknown_email" | "rate_limited";
export type RateLimitName = "email_burst" | "email_hourly" | "ip_hourly";

export type PasswordResetRejected = Event<
  "PasswordResetRejected",
  {
    requestId: string;
    reason: ResetRejectionReason;
    limit?: RateLimitName;
    retryAfterSeconds?: number;
    /** The day's keyed hash of the client (an IPv6 /64 as one): correlates without the address. */
    ipHash: string;
    /**
     * Conceal mode, unknown email: "0"s bringing the event to the size of the request a known
     * email would have logged. It says nothing; it marks the rejection as one that does a
     * request's work (isConcealedRejection).
     */
    padding?: string;
  }
>;

/** An unknown email's rejection in conceal mode: written with the statements a request's are. */
export const isConcealedRejection = (event: {
  type: string;
  data: unknown;
}): event is PasswordResetRejected =>
  event.type === "PasswordResetRejected" &&
  typeof (event.data as { padding?: unknown }).padding === "string";

/**
 * Refusals under one limit counted, not logged one by one: after a refusal is recorded as
 * PasswordResetRejected, the further ones of that limit until `lastAt` are `refused` in number.
 * In an email's stream for its limits (a minute's tally); in the client's attempts stream for
 * `ip_hourly` (an hour's).
 */
export type PasswordResetRefusalsCounted = Event<
  "PasswordResetRefusalsCounted",
  { limit: RateLimitName; refused: number; firstAt: string; lastAt: string }
>;

type ResetEmail = { requestId: string };

/** `locale`: the language the email was written in (absent in old events). */
export type PasswordResetEmailSent = EmailSent<
  "PasswordResetEmailSent",
  ResetEmail & { locale?: string }
>;
export type PasswordResetEmailFailed = EmailFailed<"PasswordResetEmailFailed", ResetEmail>;

export type CodeRejectionReason =
  | "unknown_code"
  | "wrong_code"
  | "expired"
  | "superseded"
  | "used"
  | "locked"
  /** Its email's outcome is not PasswordResetEmailSent (pending, failed, or unknown). */
  | "undelivered";

/**
 * A reset attempt that failed. In the email's stream when the code or the email named one;
 * otherwise in the client's attempts stream. `failedAttempts` counts this client's wrong tries
 * at the code; `locked` marks the one that locked the code for this client.
 */
export type PasswordResetCodeRejected = Event<
  "PasswordResetCodeRejected",
  {
    requestId?: string;
    reason: CodeRejectionReason;
    failedAttempts?: number;
    locked?: boolean;
    ipHash: string;
  }
>;

export type PasswordResetCompleted = Event<
  "PasswordResetCompleted",
  { requestId: string; userId: string; sealedIp: string; sealedUserAgent: string }
>;

export type PasswordResetDeliveryReport = DeliveryReport<"PasswordResetEmail", ResetEmail>;
export type PasswordResetEvent =
  | PasswordResetRequested
  | PasswordResetRejected
  | PasswordResetRefusalsCounted
  | PasswordResetEmailSent
  | PasswordResetEmailFailed
  | PasswordResetCodeRejected
  | PasswordResetCompleted
  | PasswordResetDeliveryReport;

export const passwordResetStreamPrefix = "password-reset-";
/**
 * A client's own stream (`deterministicUuid` of its day's IP hash, an IPv6 /64 as one client):
 * failed codes that named no known request, and triggers refused by the client's own limit
 * (`ip_hourly`), tallied here so that the emails they name add nothing to the log.
 */
export const resetAttemptsStreamPrefix = "password-reset-attempts-";

export const isDispatchOutcome = (event: {
  type: string;
}): event is PasswordResetEmailSent | PasswordResetEmailFailed =>
  event.type === "PasswordResetEmailSent" || event.type === "PasswordResetEmailFailed";
