import { jittered, type RetryPolicy } from "../retry";
import { VersionConflictError } from "./types";

export { type RetryPolicy, retry as withRetries } from "../retry";

/**
 * How long to wait before re-deciding after a version conflict: random, so that writers from
 * several processes racing for one stream spread out instead of colliding again in lockstep.
 */
export const backoffAfterConflict = jittered((attempt) => Math.min(50, 2 * attempt));

/** Enough re-decisions for a hot stream shared by a few processes; past this it is a fault. */
export const MAX_DECIDE_ATTEMPTS = 30;

/** The bound, the backoff and the sleep of re-attempts after conflicts; tests make them small and fast. */
export type ConflictRetries = Pick<RetryPolicy, "maxAttempts" | "backoff" | "sleep">;

/** Retries the failures `isConflict` names, with backoff, up to the bound; any other error ends it. */
export function onConflict(
  options: ConflictRetries = {},
  isConflict: (error: unknown) => boolean = (error) => error instanceof VersionConflictError,
): RetryPolicy {
  return {
    maxAttempts: options.maxAttempts ?? MAX_DECIDE_ATTEMPTS,
    backoff: options.backoff ?? backoffAfterConflict,
    retries: isConflict,
    sleep: options.sleep,
  };
}
