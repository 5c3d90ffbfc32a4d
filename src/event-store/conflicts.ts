/**
 * How long to wait before re-deciding after a version conflict: random, so that writers from
 * several processes racing for one stream spread out instead of colliding again in lockstep.
 */
export function backoffAfterConflict(attempt: number): Promise<void> {
  return Bun.sleep(Math.random() * Math.min(50, 2 * attempt));
}

/** Enough re-decisions for a hot stream shared by a few processes; past this it is a fault. */
export const MAX_DECIDE_ATTEMPTS = 30;
