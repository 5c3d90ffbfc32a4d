import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Db } from "../db";
import type { CommitSignal, EventBus } from "./bus";
import { compareCheckpoints, type EventStore, type Tx } from "./store";
import { type Checkpoint, type RecordedEvent, START } from "./types";

/** A read model kept in its own transactions: its writes and its checkpoint commit together. */
export interface ProjectionHandler {
  kind: "projection";
  handle(trx: Tx, event: RecordedEvent): Promise<void>;
}

/** A side effect per event (an email): idempotent by itself, run concurrently up to a bound. */
export interface ReactorHandler {
  kind: "reactor";
  concurrency: number;
  /**
   * `fresh`: this process committed the event a moment ago and hands it over before the log
   * scan reaches it, so no earlier handling of it can exist.
   */
  handle(event: RecordedEvent, context: { fresh: boolean }): Promise<void>;
}

export interface SubscriptionOptions {
  name: string;
  types?: readonly string[];
  handler: ProjectionHandler | ReactorHandler;
  batchSize?: number;
  /** How long a lease lasts without renewal: a dead owner is replaced after at most this. */
  leaseMs?: number;
  /** The safety-net poll for wake-ups that never came. */
  pollMs?: number;
  log?: (message: string, error?: unknown) => void;
}

interface Pending {
  event: RecordedEvent;
  done: boolean;
}

const MAX_RETRY_MS = 30_000;
const SAVE_EVERY_MS = 200;
/** Wake-ups closer together than this share one read of the log. */
const MIN_READ_INTERVAL_MS = 5;
/** How long the scan may trail this process's own commits whose handling already started. */
const LAZY_SCAN_MS = 50;

/**
 * One named, checkpointed reader of the log. Across processes only the lease owner reads; the
 * checkpoint write is fenced by ownership, so a process that lost its lease cannot move it.
 */
export class Subscription {
  readonly name: string;
  private readonly owner = randomUUID();
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly log: (message: string, error?: unknown) => void;

  private running: Promise<void> | undefined;
  private stopped = false;
  private owned = false;
  private leaseRenewedAt = 0;
  private checkpoint: Checkpoint = START;
  private cursor: Checkpoint = this.checkpoint;
  private savedCheckpoint: Checkpoint = this.checkpoint;
  private newestSignalled = 0n;
  private woken = false;
  private wakeUp: (() => void) | undefined;
  private readonly pending: Pending[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private saving: Promise<void> = Promise.resolve();
  private saveTimer: Timer | undefined;
  private lastReadAt = 0;
  /** Runs started from this process's own commits, by event id, until the scan reaches them. */
  private readonly early = new Map<string, Promise<boolean>>();
  private lazyWake: Timer | undefined;
  private readonly onCommit = (signal: CommitSignal) => {
    // This process's own commit, every event of ours already running: the log scan that
    // confirms them (and moves the checkpoint) can wait and cover many commits in one read.
    if (signal.events && this.startEarly(signal.events)) {
      this.wakeLater();
      return;
    }
    const tx = BigInt(signal.transactionId || "0");
    if (tx > this.newestSignalled) this.newestSignalled = tx;
    this.wake();
  };

  constructor(
    private readonly db: Db,
    private readonly store: EventStore,
    private readonly bus: EventBus,
    private readonly options: SubscriptionOptions,
  ) {
    this.name = options.name;
    this.batchSize = options.batchSize ?? 100;
    this.leaseMs = options.leaseMs ?? 5_000;
    this.pollMs = options.pollMs ?? 1_000;
    this.log = options.log ?? ((message, error) => console.error(message, error ?? ""));
  }

  get isOwner(): boolean {
    return this.owned;
  }

  /** The position up to which every event has been fully handled. */
  get position(): Checkpoint {
    return this.checkpoint;
  }

  start(): void {
    if (this.running) return;
    this.bus.on("commit", this.onCommit);
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.bus.off("commit", this.onCommit);
    clearTimeout(this.lazyWake);
    this.lazyWake = undefined;
    this.wake();
    await this.running;
    await Promise.allSettled(this.inFlight);
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saving;
    if (this.owned) {
      this.advanceReactorCheckpoint();
      await this.saveCheckpoint().catch((error) =>
        this.log(`${this.name}: final checkpoint`, error),
      );
      await sql`update subscriptions set owner = null, lease_expires_at = null
                where name = ${this.name} and owner = ${this.owner}`
        .execute(this.db)
        .catch(() => {});
      this.owned = false;
    }
  }

  private wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private wakeLater(): void {
    if (this.lazyWake !== undefined) return;
    this.lazyWake = setTimeout(() => {
      this.lazyWake = undefined;
      this.wake();
    }, LAZY_SCAN_MS);
  }

  private sleep(ms: number, wakeable = true): Promise<void> {
    if (wakeable && this.woken) {
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
      if (wakeable) this.wakeUp = done;
    }).then(() => {
      if (wakeable) this.woken = false;
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!(await this.holdLease())) {
          await this.sleep(Math.max(50, this.leaseMs / 3), false);
          continue;
        }
        const sinceRead = Date.now() - this.lastReadAt;
        if (sinceRead < MIN_READ_INTERVAL_MS)
          await this.sleep(MIN_READ_INTERVAL_MS - sinceRead, false);
        this.lastReadAt = Date.now();
        const progressed = await this.step();
        failures = 0;
        if (!progressed) await this.sleep(this.idleDelay());
      } catch (error) {
        failures++;
        this.log(`${this.name}: retrying after failure ${failures}`, error);
        await this.sleep(Math.min(MAX_RETRY_MS, 100 * 2 ** Math.min(failures, 10)), false);
      }
    }
  }

  /** A commit we were told about but cannot see yet (an older transaction is still open). */
  private idleDelay(): number {
    const horizon = BigInt(this.cursor.transactionId);
    return this.newestSignalled >= horizon ? 5 : this.pollMs;
  }

  private async holdLease(): Promise<boolean> {
    const now = Date.now();
    if (this.owned && now - this.leaseRenewedAt < this.leaseMs / 3) return true;
    const { rows } = await sql<{ last_transaction_id: string; last_position: number }>`
      insert into subscriptions (name, owner, lease_expires_at)
      values (${this.name}, ${this.owner}, now() + ${`${this.leaseMs} milliseconds`}::interval)
      on conflict (name) do update
        set owner = excluded.owner, lease_expires_at = excluded.lease_expires_at
        where subscriptions.owner is null or subscriptions.owner = excluded.owner
           or subscriptions.lease_expires_at < now()
      returning last_transaction_id::text, last_position`.execute(this.db);
    const row = rows[0];
    if (row === undefined) {
      if (this.owned) this.log(`${this.name}: lease lost`);
      this.owned = false;
      return false;
    }
    if (!this.owned) {
      // A new term starts from the stored checkpoint, whatever a previous term had in memory.
      this.checkpoint = {
        transactionId: row.last_transaction_id,
        position: Number(row.last_position),
      };
      this.savedCheckpoint = this.checkpoint;
      this.cursor = this.checkpoint;
      this.pending.length = 0;
      this.owned = true;
    }
    this.leaseRenewedAt = now;
    return true;
  }

  private async step(): Promise<boolean> {
    const handler = this.options.handler;
    if (handler.kind === "reactor") {
      const capacity = handler.concurrency - this.inFlight.size;
      if (capacity <= 0) return false;
      const batch = await this.store.readAll(this.cursor, {
        limit: Math.min(capacity, this.batchSize),
        types: this.options.types,
      });
      for (const event of batch.events) this.dispatch(handler, event);
      const moved = compareCheckpoints(batch.next, this.cursor) > 0;
      this.cursor = batch.next;
      this.advanceReactorCheckpoint();
      if (moved && this.pending.length === 0) this.queueSave();
      return batch.events.length > 0;
    }

    const batch = await this.store.readAll(this.cursor, {
      limit: this.batchSize,
      types: this.options.types,
    });
    if (batch.events.length === 0) {
      // Nothing to apply; remember the skipped range without writing on every wake-up.
      this.cursor = batch.next;
      this.checkpoint = batch.next;
      return false;
    }
    await this.db.transaction().execute(async (trx) => {
      for (const event of batch.events) await handler.handle(trx, event);
      await this.writeCheckpoint(trx, batch.next);
    });
    this.cursor = batch.next;
    this.checkpoint = batch.next;
    this.savedCheckpoint = batch.next;
    return true;
  }

  /**
   * The scan only passes the snapshot horizon, which trails commits while other transactions
   * are open. The owner starts its own fresh commits at once instead; the scan then waits for
   * that same run, so the checkpoint rule is unchanged and nothing runs twice.
   */
  /** True when every event of ours among them is now running (or was read by the scan). */
  private startEarly(events: RecordedEvent[]): boolean {
    const handler = this.options.handler;
    const types = this.options.types;
    const leaseIsFresh = Date.now() - this.leaseRenewedAt < this.leaseMs / 2;
    if (handler.kind !== "reactor" || !this.owned || this.stopped || !leaseIsFresh) return false;
    let all = true;
    for (const event of events) {
      if (types !== undefined && !types.includes(event.type)) continue;
      // The scan may have read it already (the announcement comes after the commit): its run stands.
      const at = { transactionId: event.transactionId, position: event.globalPosition };
      if (compareCheckpoints(at, this.cursor) <= 0) continue;
      if (this.early.has(event.eventId)) continue;
      if (this.inFlight.size >= handler.concurrency) {
        all = false;
        continue;
      }
      const run = this.run(handler, event, true);
      this.early.set(event.eventId, run);
      const tracked = run.then(() => {});
      this.inFlight.add(tracked);
      void tracked.finally(() => this.inFlight.delete(tracked));
    }
    return all;
  }

  /** Handles one event, retrying failures; false when abandoned (stopping or lease lost). */
  private async run(
    handler: ReactorHandler,
    event: RecordedEvent,
    fresh: boolean,
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await handler.handle(event, { fresh: fresh && attempt === 1 });
        return true;
      } catch (error) {
        this.log(`${this.name}: event ${event.globalPosition} failed (attempt ${attempt})`, error);
        if (this.stopped || !this.owned) return false;
        await this.sleep(Math.min(MAX_RETRY_MS, 100 * 2 ** Math.min(attempt, 10)), false);
      }
    }
  }

  private dispatch(handler: ReactorHandler, event: RecordedEvent): void {
    const entry: Pending = { event, done: false };
    this.pending.push(entry);
    const started = this.early.get(event.eventId);
    this.early.delete(event.eventId);
    // An early run abandoned in a lost term is redone now that this process owns the scan again.
    const handling = started
      ? started.then((handled) => handled || this.run(handler, event, false))
      : this.run(handler, event, false);
    const run = handling
      .then((handled) => {
        entry.done = handled;
      })
      .finally(() => {
        this.inFlight.delete(run);
        this.advanceReactorCheckpoint();
        this.queueSave();
        this.wake();
      });
    this.inFlight.add(run);
  }

  /** The checkpoint may pass only events whose handling finished: the oldest unfinished one stops it. */
  private advanceReactorCheckpoint(): void {
    while (this.pending[0]?.done) this.pending.shift();
    const oldest = this.pending[0];
    this.checkpoint = oldest
      ? { transactionId: oldest.event.transactionId, position: oldest.event.globalPosition - 1 }
      : this.cursor;
  }

  /**
   * A reactor's checkpoint only bounds the re-check after a restart (its handler is idempotent),
   * so it is written at most every SAVE_EVERY_MS instead of once per event.
   */
  private queueSave(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saving = this.saving
        .then(() => this.saveCheckpoint())
        .catch((error) => this.log(`${this.name}: checkpoint`, error));
    }, SAVE_EVERY_MS);
  }

  private async saveCheckpoint(): Promise<void> {
    const target = this.checkpoint;
    if (!this.owned || compareCheckpoints(target, this.savedCheckpoint) <= 0) return;
    await this.writeCheckpoint(this.db, target);
    this.savedCheckpoint = target;
  }

  private async writeCheckpoint(db: Db | Tx, checkpoint: Checkpoint): Promise<void> {
    const result = await sql`
      update subscriptions
      set last_transaction_id = ${checkpoint.transactionId}::xid8,
          last_position = ${checkpoint.position}, updated_at = now()
      where name = ${this.name} and owner = ${this.owner}`.execute(db);
    if (Number(result.numAffectedRows ?? 0) !== 1) {
      this.owned = false;
      throw new Error(`${this.name}: lease lost, checkpoint not moved`);
    }
  }
}
