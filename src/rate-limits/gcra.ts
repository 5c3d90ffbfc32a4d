/**
 * The generic cell rate algorithm: `burst` requests at once, then one every `intervalMs`.
 * Pure: the state is the theoretical arrival time (TAT) of the next request.
 */
export interface RatePolicy {
  intervalMs: number;
  burst: number;
}

export type RateDecision =
  | { allowed: true; tat: number }
  | { allowed: false; retryAfterMs: number };

export function gcra(policy: RatePolicy, tat: number, now: number): RateDecision {
  const next = Math.max(tat, now) + policy.intervalMs;
  const earliest = next - policy.burst * policy.intervalMs;
  if (earliest <= now) return { allowed: true, tat: next };
  return { allowed: false, retryAfterMs: earliest - now };
}

/** The TAT after a history of allowed requests at the given times (oldest first). */
export function tatAfter(policy: RatePolicy, times: readonly number[]): number {
  let tat = 0;
  for (const t of times) tat = Math.max(tat, t) + policy.intervalMs;
  return tat;
}

/** At most `max` in any window of `windowMs`; the wait until the oldest one leaves the window. */
export function windowLimit(
  max: number,
  windowMs: number,
  times: readonly number[],
  now: number,
): { allowed: true } | { allowed: false; retryAfterMs: number } {
  const inWindow = times.filter((t) => t > now - windowMs);
  if (inWindow.length < max) return { allowed: true };
  const oldestThatMustLeave = inWindow[inWindow.length - max] ?? now;
  return { allowed: false, retryAfterMs: oldestThatMustLeave + windowMs - now };
}

/** At most `max` in any `windowMs` (a sliding window). */
export interface WindowPolicy {
  max: number;
  windowMs: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The limits of the README's Security section: its table states these numbers; a test measures them. */
export const limits = {
  /** Per email and client IP: the owner's own address has its own budget. */
  triggerPerEmail: { intervalMs: MINUTE, burst: 3 } satisfies RatePolicy,
  /** Per email, all addresses together; an address new to the email in the hour still gets one. */
  triggerPerEmailHourly: { max: 10, windowMs: HOUR } satisfies WindowPolicy,
  triggerPerIp: { max: 30, windowMs: HOUR } satisfies WindowPolicy,
  failedCodesPerIp: { max: 10, windowMs: 15 * MINUTE } satisfies WindowPolicy,
  failedLoginsPerAccount: { max: 10, windowMs: 15 * MINUTE } satisfies WindowPolicy,
  /** Failed logins presenting one device token of the account, instead of the two limits beside. */
  failedLoginsPerDevice: { max: 10, windowMs: 15 * MINUTE } satisfies WindowPolicy,
  /** Failed logins and registrations of a taken email, per client IP. */
  failedAuthPerIp: { max: 20, windowMs: 15 * MINUTE } satisfies WindowPolicy,
  /** Registrations per client IP, successful ones too: each costs a hash and an account. */
  registrationsPerIp: { max: 10, windowMs: HOUR } satisfies WindowPolicy,
  /** Wrong or missing audit tokens per client IP. */
  failedAuditAuthPerIp: { max: 10, windowMs: 15 * MINUTE } satisfies WindowPolicy,
} as const;
