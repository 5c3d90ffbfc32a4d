import type { Logger } from "../log";
import { appendPatiently } from "./patient-append";
import type { EventStore } from "./store";
import type { StreamWrite } from "./types";

interface Queued {
  write: StreamWrite;
  settle: (error?: unknown) => void;
}

/**
 * Collects "any"-version writes made in the same tick (outcomes of concurrent sends) and
 * appends them as one statement: one commit for many streams. When the batch fails as a whole
 * (a duplicate id, a stubborn race), each write falls back to a patient append of its own.
 */
export class AppendBatcher {
  private queue: Queued[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly log: Logger,
  ) {}

  append(streamId: string, events: StreamWrite["events"]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => void this.flush());
      this.queue.push({
        write: { streamId, expectedVersion: "any", events },
        settle: (error) => (error === undefined ? resolve() : reject(error)),
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    try {
      await this.store.appendAll(batch.map((q) => q.write));
      for (const q of batch) q.settle();
    } catch {
      await Promise.all(
        batch.map((q) =>
          appendPatiently(this.store, q.write.streamId, q.write.events, { log: this.log }).then(
            () => q.settle(),
            (error: unknown) => q.settle(error ?? new Error("append failed")),
          ),
        ),
      );
    }
  }
}
