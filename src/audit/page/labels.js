// What the auditors' page says for each identifier the log records; anything newer still reads as words.

/** Why a trigger was refused: the limit it hit (`limit`), or the refusal's reason. */
export const LIMITS = {
  email_burst: "too many requests for this email",
  email_hourly: "too many requests for this email this hour",
  ip_hourly: "too many requests from this client this hour",
};

export const REFUSALS = {
  unknown_email: "no account has this email",
  rate_limited: "too many requests",
};

/** Why a code did not reset the password. */
export const CODE_REJECTIONS = {
  unknown_code: "unknown code",
  wrong_code: "wrong code",
  expired: "code expired",
  superseded: "code replaced by a newer request",
  used: "code already used",
  locked: "code locked after too many wrong tries",
  undelivered: "its email was never confirmed sent",
};

/** Why a session ended (`revoked` is told apart by who ended it). */
export const SESSION_ENDS = {
  logout: "logged out",
  revoked: "ended from another session",
  idle: "idle too long",
  expired: "expired",
  reset: "ended by the password reset",
};

export const PASSWORD_CHANGES = {
  reset: "by a password reset",
};

/** Why the service did not hand an email to the provider (`unknown`: it may have). */
export const EMAIL_FAILURES = {
  unknown: "the provider's answer never came",
  deadline: "not sent before its deadline",
  erased: "the person's data was erased",
  code_key_missing: "the code's key was already gone",
  timeout: "the provider did not answer in time",
  network: "the provider could not be reached",
  "client-error": "the request to the provider could not be made",
  "rate-limited": "the provider limited the sending rate",
  "server-error": "the provider failed",
  unauthorized: "the provider refused the service's credentials",
  rejected: "the provider rejected it",
  "console-write-failed": "the console could not be written",
};

/** The provider's reasons for a bounce or a delay (Mailgun's words for them). */
export const PROVIDER_REASONS = {
  bounce: "the receiving server refused it",
  generic: "delivery failed",
  old: "given up after retrying",
  greylisted: "greylisted by the receiving server",
  espblock: "blocked by the email provider",
  hardfail: "refused for good",
  "suppress-bounce": "the address bounced before",
  "suppress-unsubscribe": "the address unsubscribed",
  "suppress-complaint": "the address complained before",
};

/** Each event type as one step of a timeline. */
export const EVENT_TYPES = {
  PasswordResetRequested: "Requested",
  PasswordResetRejected: "Refused",
  PasswordResetRefusalsCounted: "Refusals counted",
  PasswordResetEmailSent: "Email sent",
  PasswordResetEmailFailed: "Email not sent",
  PasswordResetEmailDelivered: "Delivered",
  PasswordResetEmailBounced: "Bounced",
  PasswordResetEmailDeferred: "Deferred",
  PasswordResetEmailComplained: "Marked as spam",
  PasswordResetCodeRejected: "Failed code",
  PasswordResetCompleted: "Completed",
  UserRegistered: "Registered",
  UserLoggedIn: "Logged in",
  SessionEnded: "Session ended",
  PasswordChanged: "Password changed",
  PasswordChangedNoticeSent: "Notice sent",
  PasswordChangedNoticeFailed: "Notice not sent",
  PasswordChangedNoticeDelivered: "Notice delivered",
  PasswordChangedNoticeBounced: "Notice bounced",
  PasswordChangedNoticeDeferred: "Notice deferred",
  PasswordChangedNoticeComplained: "Notice marked as spam",
  PersonalDataErased: "Personal data erased",
};

/** An identifier as lower-case words: `email_burst` → "email burst", `UserLoggedIn` → "user logged in". */
export function words(identifier) {
  const text = String(identifier ?? "")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[\s_.:-]+/g, " ")
    .trim()
    .toLowerCase();
  return text === "" ? "no reason given" : text;
}

/** The table's words for `identifier`, or the identifier itself as words. */
export function label(table, identifier) {
  return typeof identifier === "string" && Object.hasOwn(table, identifier)
    ? table[identifier]
    : words(identifier);
}

/** An event type as a step's name: its label, or its name as a sentence. */
export function eventLabel(type) {
  const text = label(EVENT_TYPES, type);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Why a trigger was refused: the limit it hit, or else its reason. */
export const refusalLabel = (data) =>
  data.limit !== undefined ? label(LIMITS, data.limit) : label(REFUSALS, data.reason);
