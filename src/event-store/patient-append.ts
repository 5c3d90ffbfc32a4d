import type { Logger } from "../log";
import { doubling, retry } from "../retry";
import type { EventStore } from "./store";
import { type NewEvent, VersionConflictError } from "./types";

/** A database blip: 100 ms, doubling up to 2 s. */
const afterBlip = doubling(100, 2_000);

/**
 * Appends at whatever version the stream has reached, retrying through version races and
 * database blips for up to `patienceMs`. For records of side effects that already happened
 * (an email was sent): only the append may be retried, never the effect. Give each event a
 * fixed id so that a retry after an unseen commit is a no-op.
 */
export async function appendPatiently(
  store: EventStore,
  streamId: string,
  events: NewEvent[],
  options: {
    log: Pick<Logger, "warn">;
    patienceMs?: number;
    now?: () => number;
    /** Fields that say what is being recorded, for the log lines of its retries. */
    about?: Record<string, unknown>;
  },
): Promise<void> {
  const now = options.now ?? Date.now;
  const giveUpAt = now() + (options.patienceMs ?? 60_000);
  const isConflict = (error: unknown) => error instanceof VersionConflictError;
  await retry(() => store.append(streamId, "any", events), {
    retries: () => now() <= giveUpAt,
    // A conflict here outlasted the store's own backoff: go again at once.
    backoff: (attempt, error) => (isConflict(error) ? 0 : afterBlip(attempt)),
    onRetry(error, attempt) {
      if (isConflict(error)) return;
      options.log.warn("append failed; retrying", {
        ...options.about,
        streamId,
        attempt,
        error,
      });
    },
  });
}
