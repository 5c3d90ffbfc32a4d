import { VersionConflictError } from "./types";

/**
 * How long to wait before re-deciding after a version conflict: random, so that writers from
 * several processes racing for one stream spread out instead of colliding again in lockstep.
 */
export function backoffAfterConflict(attempt: number): Promise<void> {
  return Bun.sleep(Math.random() * Math.min(50, 2 * attempt));
}

/** Enough re-decisions for a hot stream shared by a few processes; past this it is a fault. */
export const MAX_DECIDE_ATTEMPTS = 30;

/** When a failed attempt is worth another one, and how long to wait before it. */
export interface RetryPolicy {
  retries(error: unknown, attempt: number): boolean;
  wait(error: unknown, attempt: number): Promise<void>;
}

/** The bound and the backoff of re-attempts after conflicts; tests make them small and fast. */
export interface ConflictRetries {
  maxAttempts?: number;
  backoff?: (attempt: number) => Promise<void>;
}

/** Every retry loop of the store: attempt, and after a failure the policy says wait or give up. */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!policy.retries(error, n)) throw error;
      await policy.wait(error, n);
    }
  }
}

/** Retries the failures `isConflict` names, with backoff, up to the bound; any other error ends it. */
export function onConflict(
  options: ConflictRetries = {},
  isConflict: (error: unknown) => boolean = (error) => error instanceof VersionConflictError,
): RetryPolicy {
  const maxAttempts = options.maxAttempts ?? MAX_DECIDE_ATTEMPTS;
  const backoff = options.backoff ?? backoffAfterConflict;
  return {
    retries: (error, attempt) => isConflict(error) && attempt < maxAttempts,
    wait: (_error, attempt) => backoff(attempt),
  };
}
