/**
 * How a failed attempt is tried again: at most how many attempts, how long to wait after each
 * failure, until when, which failures are worth another attempt, and how to wait. Every retry
 * loop of the service is `retry` under one of these.
 */
export interface RetryPolicy {
  /** At most this many attempts in all; unbounded when absent. */
  maxAttempts?: number;
  /** The wait after the n-th failure (`error`), in ms; none when absent. */
  backoff?: (attempt: number, error: unknown) => number;
  /** epoch ms: a wait that would reach it is not begun, and the last failure stands. */
  deadline?: number;
  /** The clock the deadline is read on. */
  now?: () => number;
  /** Whether a failure is worth another attempt; every one is when absent. */
  retries?: (error: unknown, attempt: number) => boolean;
  /** Told of each failure that will be tried again, right before the wait. */
  onRetry?: (error: unknown, attempt: number) => void;
  /** How to wait; tests pass one that only moves their clock. */
  sleep?: (ms: number) => Promise<void>;
}

export const sleep = (ms: number): Promise<void> => Bun.sleep(ms);

/**
 * Runs `attempt` (numbered from 1) until it succeeds, or a failure the policy does not retry
 * (past the bound, not worth it, or its wait would reach the deadline) is thrown. A zero wait
 * goes again at once.
 */
export async function retry<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  const { maxAttempts, deadline, now = Date.now, retries, backoff, onRetry } = policy;
  const wait = policy.sleep ?? sleep;
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if ((maxAttempts !== undefined && n >= maxAttempts) || (retries && !retries(error, n))) {
        throw error;
      }
      const delay = backoff?.(n, error) ?? 0;
      if (deadline !== undefined && now() + delay >= deadline) throw error;
      onRetry?.(error, n);
      if (delay > 0) await wait(delay);
    }
  }
}

/** Waits doubling from `firstMs` after the first failure, up to `maxMs`. */
export const doubling =
  (firstMs: number, maxMs: number) =>
  (attempt: number): number =>
    Math.min(maxMs, firstMs * 2 ** (attempt - 1));

/** Full jitter: a random part of each wait, so that retrying writers spread out. */
export const jittered =
  (backoff: (attempt: number) => number, random: () => number = Math.random) =>
  (attempt: number): number =>
    random() * backoff(attempt);
