import type { Logger } from "../log";
import { withRetries } from "./conflicts";
import type { EventStore } from "./store";
import { type NewEvent, VersionConflictError } from "./types";

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
    log: Logger;
    patienceMs?: number;
    now?: () => number;
    /** Fields that say what is being recorded, for the log lines of its retries. */
    about?: Record<string, unknown>;
  },
): Promise<void> {
  const now = options.now ?? Date.now;
  const giveUpAt = now() + (options.patienceMs ?? 60_000);
  await withRetries(() => store.append(streamId, "any", events), {
    retries: () => now() <= giveUpAt,
    // A conflict here outlasted the store's own backoff: go again at once.
    async wait(error, attempt) {
      if (error instanceof VersionConflictError) return;
      options.log.warn("append failed; retrying", {
        ...options.about,
        streamId,
        attempt,
        error,
      });
      await Bun.sleep(Math.min(2_000, 50 * 2 ** attempt));
    },
  });
}
