import type { ErrorLogger } from "../log";
import { retry } from "../retry";
import type { RecordedEvent } from "./types";
import { pauseAfterFailure } from "./wake-ups";

/**
 * Runs a subscription's events, at most `concurrency` at once, each retried until handled or
 * abandoned. This process's own fresh commits may start before the scan reaches them; the scan
 * then takes over that same run, so nothing runs twice and the checkpoint still waits for it.
 */
export class Dispatcher {
  private readonly inFlight = new Set<Promise<void>>();
  /** Runs started from this process's own commits, by event id, until the scan reaches them. */
  private readonly early = new Map<string, Promise<boolean>>();

  constructor(
    private readonly handler: ReactorHandler,
    private readonly name: string,
    /** Stopping, or the lease lost: a failed event is left to the next owner's scan. */
    private readonly abandoned: () => boolean,
    private readonly log: ErrorLogger,
  ) {}

  /** How many more events may start now. */
  get capacity(): number {
    return this.handler.concurrency - this.inFlight.size;
  }

  /** Starts an event ahead of the scan; false when no slot is free for it. */
  startEarly(event: RecordedEvent): boolean {
    if (this.early.has(event.eventId)) return true;
    if (this.inFlight.size >= this.handler.concurrency) return false;
    const run = this.run(event, true);
    this.early.set(event.eventId, run);
    const tracked = run.then(() => {});
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    return true;
  }

  /**
   * Runs an event the scan read, or takes over its early run; `settled` learns if it was handled.
   * `fresh`: committed within this owner's current term, so no earlier handling of it can exist.
   */
  dispatch(event: RecordedEvent, settled: (handled: boolean) => void, fresh = false): void {
    const started = this.early.get(event.eventId);
    this.early.delete(event.eventId);
    // An early run abandoned in a lost term is redone now that this process owns the scan again.
    const handling = started
      ? started.then((handled) => handled || this.run(event, false))
      : this.run(event, fresh);
    let handled = false;
    const run = handling
      .then((outcome) => {
        handled = outcome;
      })
      .finally(() => {
        this.inFlight.delete(run);
        settled(handled);
      });
    this.inFlight.add(run);
  }

  /** Waits for every run under way. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inFlight);
  }

  /** Handles one event, retrying failures (each one logged); false when abandoned. */
  private async run(event: RecordedEvent, fresh: boolean): Promise<boolean> {
    const attempt = async (n: number) => {
      try {
        await this.handler.handle(event, { fresh: fresh && n === 1 });
      } catch (error) {
        this.log.error(`${this.name}: event ${event.globalPosition} failed (attempt ${n})`, {
          error,
        });
        throw error;
      }
    };
    try {
      await retry(attempt, { retries: () => !this.abandoned(), backoff: pauseAfterFailure });
      return true;
    } catch {
      return false;
    }
  }
}

/** A side effect per event (an email): idempotent by itself, run concurrently up to a bound. */
export interface ReactorHandler {
  concurrency: number;
  /**
   * `fresh`: no earlier handling of the event can exist: this process committed it a moment ago
   * and hands it over before the log scan reaches it, or the scan read it as committed within
   * this owner's current term.
   */
  handle(event: RecordedEvent, context: { fresh: boolean }): Promise<void>;
}
