import { consoleLogger, type ErrorLogger } from "../log";
import { doubling } from "../retry";
import type { CommitSignal, EventBus } from "./bus";

export interface CommitNotifierOptions {
  /** At most one NOTIFY per this many milliseconds, naming every stream committed meanwhile. */
  intervalMs?: number;
  log?: ErrorLogger;
}

// NOTIFY payloads stop at 8000 bytes; past this many characters of stream ids, "any stream".
const MAX_NAMED = 6000;
/** After the n-th failed notification in a row: 100 ms, doubling up to 2 s. */
const retryDelay = doubling(100, 2_000);

/**
 * Tells other processes about this process's commits from outside the commit path: the appends
 * carry no NOTIFY; this sends one, coalesced, after they committed, through `send` (its own
 * transaction with synchronous_commit off, so PreCommit_Notify's cluster-wide lock is held for
 * a moment, never across a disk flush). A notification lost to a crash only delays the others
 * until their safety-net poll.
 */
export class CommitNotifier {
  private readonly intervalMs: number;
  private readonly log: ErrorLogger;
  private readonly streams = new Set<string>();
  private readonly types = new Set<string>();
  private everyStream = false;
  private newest = 0n;
  private timer: Timer | undefined;
  private sending: Promise<void> = Promise.resolve();
  private lastSentAt = 0;
  private failures = 0;
  private stopped = false;
  private readonly onCommit = (signal: CommitSignal) => {
    // Only this process's own commits carry their events; remote ones were announced already.
    if (signal.events === undefined || this.stopped) return;
    const tx = BigInt(signal.transactionId || "0");
    if (tx > this.newest) this.newest = tx;
    if (signal.streamIds.length === 0) this.everyStream = true;
    for (const id of signal.streamIds) this.streams.add(id);
    for (const event of signal.events) this.types.add(event.type);
    this.schedule(0);
  };

  constructor(
    private readonly send: (payload: string) => Promise<void>,
    private readonly bus: EventBus,
    private readonly processId: string,
    options: CommitNotifierOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5;
    this.log = options.log ?? consoleLogger;
  }

  start(): void {
    this.stopped = false;
    this.bus.on("commit", this.onCommit);
  }

  /** Sends what is still pending, then stops listening. */
  async stop(): Promise<void> {
    this.bus.off("commit", this.onCommit);
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = this.sending.then(() => this.flush());
    await this.sending;
  }

  private schedule(extraDelayMs: number): void {
    if (this.timer !== undefined || this.stopped) return;
    const wait = Math.max(extraDelayMs, this.lastSentAt + this.intervalMs - Date.now(), 0);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sending = this.sending.then(() => this.flush());
    }, wait);
  }

  private payload(): string | undefined {
    if (this.streams.size === 0 && !this.everyStream) return undefined;
    let named = JSON.stringify([...this.streams]);
    if (this.everyStream || named.length > MAX_NAMED) named = "[]";
    // The types let a subscription that handles none of them stay asleep; any type when unnamed.
    const types = named === "[]" ? "" : `,"t":${JSON.stringify([...this.types])}`;
    return `{"p":${JSON.stringify(this.processId)},"x":"${this.newest}","s":${named}${types}}`;
  }

  private async flush(): Promise<void> {
    const payload = this.payload();
    if (payload === undefined) return;
    const streams = [...this.streams];
    const types = [...this.types];
    const everyStream = this.everyStream;
    this.streams.clear();
    this.types.clear();
    this.everyStream = false;
    this.lastSentAt = Date.now();
    try {
      await this.send(payload);
      this.failures = 0;
    } catch (error) {
      // The commits happened: keep their streams for the next try, so the others hear of them.
      this.failures++;
      if (this.failures === 1) this.log.error("commit notification failed; retrying", { error });
      for (const id of streams) this.streams.add(id);
      for (const type of types) this.types.add(type);
      this.everyStream ||= everyStream;
      this.schedule(retryDelay(this.failures));
    }
  }
}
