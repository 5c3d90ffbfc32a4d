/** The account rules every feature shares: what an email is, and what a password must be. */

export const EMAIL_MAX_LENGTH = 254;
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Trimmed and lower-cased: `User@Example.COM ` and `user@example.com` are one account. */
export function normaliseEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

export function isValidEmail(email: string): boolean {
  if (email.length > EMAIL_MAX_LENGTH) return false;
  const at = email.lastIndexOf("@");
  if (at <= 0 || at !== email.indexOf("@")) return false;
  const local = email.slice(0, at);
  const labels = email.slice(at + 1).split(".");
  return (
    local.length <= 64 &&
    LOCAL_PART.test(local) &&
    labels.length >= 2 &&
    labels.every((label) => DOMAIN_LABEL.test(label)) &&
    /^[a-z]{2,63}$|^xn--[a-z0-9-]+$/.test(labels.at(-1) ?? "")
  );
}

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

export const passwordMessages = {
  tooShort: "password must be at least 8 characters",
  tooLong: "password must be at most 256 characters",
  tooSimple:
    "password must contain at least one uppercase letter, one lowercase letter, one digit, and one special character",
} as const;

/**
 * A lone UTF-16 surrogate cannot be encoded: hashing would turn it into U+FFFD, so two different
 * passwords would match. Such a string is refused as a malformed body, never hashed.
 */
export const hasLoneSurrogate = (value: string) => /\p{Cs}/u.test(value);

/** The first rule the password breaks, or undefined. Lengths count characters, not bytes. */
export function passwordProblem(password: string): string | undefined {
  if (hasLoneSurrogate(password)) return "invalid request body";
  const length = [...password].length;
  if (length < PASSWORD_MIN) return passwordMessages.tooShort;
  if (length > PASSWORD_MAX) return passwordMessages.tooLong;
  const complete =
    /\p{Lu}/u.test(password) &&
    /\p{Ll}/u.test(password) &&
    /\p{Nd}/u.test(password) &&
    /[^\p{L}\p{Nd}]/u.test(password);
  return complete ? undefined : passwordMessages.tooSimple;
}

/** A required string field: present, a string, and not blank. */
export function presentString(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "";
}
