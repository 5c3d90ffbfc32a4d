import { doubling } from "../retry";
import type { Checkpoint } from "./types";

/** Wake-ups closer together than this share one read of the log. */
const MIN_READ_INTERVAL_MS = 5;
/** How long the scan may trail this process's own commits whose handling already started. */
const LAZY_SCAN_MS = 50;

/**
 * When a subscription reads the log next: at once on a commit it cannot handle from the bus
 * alone or when a handler slot frees, a little later when its own commits are already being
 * handled, never twice within MIN_READ_INTERVAL_MS, and otherwise on the safety-net poll.
 */
export class WakeUps {
  private woken = false;
  private wakeUp: (() => void) | undefined;
  private lazyWake: Timer | undefined;
  private newestSignalled = 0n;
  private lastReadAt = 0;

  constructor(private readonly pollMs: number) {}

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** A commit that only a read of the log can deliver. */
  signalled(transactionId: string): void {
    const tx = BigInt(transactionId || "0");
    if (tx > this.newestSignalled) this.newestSignalled = tx;
    this.wake();
  }

  /** Own commits, all already being handled: the scan that confirms them can cover many in one read. */
  wakeSoon(): void {
    if (this.lazyWake !== undefined) return;
    this.lazyWake = setTimeout(() => {
      this.lazyWake = undefined;
      this.wake();
    }, LAZY_SCAN_MS);
  }

  /** Wakes the loop one last time and leaves no timer behind. */
  stop(): void {
    clearTimeout(this.lazyWake);
    this.lazyWake = undefined;
    this.wake();
  }

  /** Spaces reads out by MIN_READ_INTERVAL_MS. */
  async beforeRead(): Promise<void> {
    const sinceRead = Date.now() - this.lastReadAt;
    if (sinceRead < MIN_READ_INTERVAL_MS) await Bun.sleep(MIN_READ_INTERVAL_MS - sinceRead);
    this.lastReadAt = Date.now();
  }

  /**
   * Nothing was read: waits for a wake-up or the poll, or only briefly for a commit we were told
   * about but cannot see yet (an older transaction is still open).
   */
  idle(cursor: Checkpoint): Promise<void> {
    const horizon = BigInt(cursor.transactionId);
    return this.sleep(this.newestSignalled >= horizon ? 5 : this.pollMs);
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    }).then(() => {
      this.woken = false;
    });
  }
}

/** The wait after the n-th failure in a row: doubling from 200 ms, up to 30 s. */
export const pauseAfterFailure = doubling(200, 30_000);
