import type { Logger } from "../log";
import { appendPatiently } from "./patient-append";
import type { EventStore } from "./store";
import type { StreamWrite } from "./types";

/**
 * Appends "any"-version writes (outcomes of concurrent sends), each on its own: the store's
 * group commit already gives the writes of one tick one statement and one commit, and each
 * keeps its own answer. A write that fails falls back to a patient append of its own.
 */
export class AppendBatcher {
  constructor(
    private readonly store: EventStore,
    private readonly log: Logger,
  ) {}

  async append(streamId: string, events: StreamWrite["events"]): Promise<void> {
    try {
      await this.store.append(streamId, "any", events);
    } catch {
      await appendPatiently(this.store, streamId, events, { log: this.log });
    }
  }
}
