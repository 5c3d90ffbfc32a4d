import {
  isDispatchOutcome,
  type PasswordResetEmailFailed,
  type PasswordResetEmailSent,
} from "../../events/password-reset";
import type { AppContext } from "../context";
import type { CommitSignal, EventBus, EventStore, RecordedEvent } from "../event-store";

export type DispatchOutcome = PasswordResetEmailSent | PasswordResetEmailFailed;

interface Waiter {
  streamId: string;
  afterVersion: number;
  resolve(outcome: DispatchOutcome | undefined): void;
}

/**
 * Lets a trigger handler wait for its email's outcome event: from the in-process bus when this
 * process dispatched it, or by re-reading the stream when another process's NOTIFY names it.
 */
export class DispatchOutcomes {
  private readonly waiters = new Map<string, Waiter>();

  constructor(
    private readonly store: EventStore,
    bus: EventBus,
  ) {
    bus.on("commit", (signal) => this.onCommit(signal));
  }

  /** Registers interest before the append, so an outcome committed right after it is not missed. */
  expect(
    requestId: string,
    streamId: string,
  ): {
    wait(afterVersion: number, timeoutMs: number): Promise<DispatchOutcome | undefined>;
    cancel(): void;
  } {
    let settle!: (outcome: DispatchOutcome | undefined) => void;
    const settled = new Promise<DispatchOutcome | undefined>((resolve) => {
      settle = resolve;
    });
    const waiter: Waiter = { streamId, afterVersion: 0, resolve: settle };
    this.waiters.set(requestId, waiter);
    const cancel = () => this.waiters.delete(requestId);
    return {
      wait: async (afterVersion, timeoutMs) => {
        waiter.afterVersion = afterVersion;
        const timer = setTimeout(() => {
          // One last look before giving up: the outcome may have come without a signal.
          void this.check(requestId, waiter).finally(() => settle(undefined));
        }, timeoutMs);
        try {
          return await settled;
        } finally {
          clearTimeout(timer);
          cancel();
        }
      },
      cancel,
    };
  }

  private onCommit(signal: CommitSignal): void {
    if (this.waiters.size === 0) return;
    if (signal.events) {
      for (const event of signal.events) {
        if (isDispatchOutcome(event)) this.waiters.get(event.data.requestId)?.resolve(event);
      }
      return;
    }
    // A commit by another process: re-read the named streams (all of them after a reconnect),
    // every waiting request's in one read.
    const named = new Set(signal.streamIds);
    const due = [...this.waiters.values()].filter((w) => named.size === 0 || named.has(w.streamId));
    if (due.length > 0) void this.checkAll(due);
  }

  private async checkAll(due: Waiter[]): Promise<void> {
    try {
      const events = await this.store.readStreams(
        due.map((w) => ({ streamId: w.streamId, afterVersion: w.afterVersion })),
      );
      for (const event of events) {
        if (isDispatchOutcome(event)) this.waiters.get(event.data.requestId)?.resolve(event);
      }
    } catch {
      // The deadline's final check or the next signal tries again.
    }
  }

  private async check(requestId: string, waiter: Waiter): Promise<void> {
    try {
      const events = await this.store.readStream(waiter.streamId, {
        afterVersion: waiter.afterVersion,
      });
      const outcome = events.find(
        (e): e is RecordedEvent<DispatchOutcome> =>
          isDispatchOutcome(e) && (e.data as { requestId?: string }).requestId === requestId,
      );
      if (outcome) waiter.resolve(outcome);
    } catch {
      // The deadline's final check or the next signal tries again.
    }
  }
}

/** What the trigger needs beyond the app's context: the waiter for its emails' outcomes. */
export type ResetContext = AppContext & { readonly resetOutcomes: DispatchOutcomes };

/** The feature's own part, built from the context's store and bus. */
export const withResetOutcomes = (ctx: AppContext): ResetContext => ({
  ...ctx,
  resetOutcomes: new DispatchOutcomes(ctx.store, ctx.bus),
});
