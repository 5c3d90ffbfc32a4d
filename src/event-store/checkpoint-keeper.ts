import { sql } from "kysely";
import type { Db } from "../db";
import type { ErrorLogger } from "../log";
import type { Lease } from "./lease";
import { compareCheckpoints } from "./store";
import { type Checkpoint, type RecordedEvent, START } from "./types";

const SAVE_EVERY_MS = 200;

/**
 * Where a subscription stands. The scan's cursor runs ahead; the checkpoint passes only events
 * whose handling finished, so the oldest unfinished one holds it back. It only bounds the
 * re-check after a restart (handlers are idempotent), so it is written at most every
 * SAVE_EVERY_MS instead of once per event, and only under the lease.
 */
export class CheckpointKeeper {
  private scanned: Checkpoint = START;
  private handled: Checkpoint = START;
  private saved: Checkpoint = START;
  private readonly pending: Pending[] = [];
  private saving: Promise<void> = Promise.resolve();
  private saveTimer: Timer | undefined;

  constructor(
    private readonly db: Db,
    private readonly name: string,
    private readonly lease: Lease,
    private readonly log: ErrorLogger,
  ) {}

  /** Where the next scan reads from. */
  get cursor(): Checkpoint {
    return this.scanned;
  }

  /** The position up to which every event has been fully handled. */
  get position(): Checkpoint {
    return this.handled;
  }

  /** A new lease term starts from the stored checkpoint, whatever a previous term had in memory. */
  restart(stored: Checkpoint): void {
    this.scanned = stored;
    this.handled = stored;
    this.saved = stored;
    this.pending.length = 0;
  }

  /** The scan handed an event out; the call it gets back says whether it was handled. */
  track(event: RecordedEvent): (handled: boolean) => void {
    const entry: Pending = { event, done: false };
    this.pending.push(entry);
    return (handled) => {
      entry.done = handled;
      this.advance();
      this.queueSave();
    };
  }

  /** The scan has read up to `next`, past what it handed out and past events of other types. */
  readTo(next: Checkpoint): void {
    const moved = compareCheckpoints(next, this.scanned) > 0;
    this.scanned = next;
    this.advance();
    if (moved && this.pending.length === 0) this.queueSave();
  }

  /** Ends the periodic saves, waiting for one under way. */
  async stop(): Promise<void> {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saving;
  }

  /** The last save of a term: everything handled by now. */
  async saveLast(): Promise<void> {
    this.advance();
    await this.save().catch((error) => this.log.error(`${this.name}: final checkpoint`, { error }));
  }

  private advance(): void {
    while (this.pending[0]?.done) this.pending.shift();
    const oldest = this.pending[0];
    this.handled = oldest
      ? { transactionId: oldest.event.transactionId, position: oldest.event.globalPosition - 1 }
      : this.scanned;
  }

  private queueSave(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saving = this.saving
        .then(() => this.save())
        .catch((error) => this.log.error(`${this.name}: checkpoint`, { error }));
    }, SAVE_EVERY_MS);
  }

  /** Fenced by ownership: a process that lost its lease cannot move the checkpoint. */
  private async save(): Promise<void> {
    const target = this.handled;
    if (!this.lease.held || compareCheckpoints(target, this.saved) <= 0) return;
    const result = await sql`
      update subscriptions
      set last_transaction_id = ${target.transactionId}::xid8,
          last_position = ${target.position}, updated_at = now()
      where name = ${this.name} and owner = ${this.lease.owner}`.execute(this.db);
    if (Number(result.numAffectedRows ?? 0) !== 1) {
      this.lease.lose();
      throw new Error(`${this.name}: lease lost, checkpoint not moved`);
    }
    this.saved = target;
  }
}

/** An event the scan handed out, and whether its handling finished. */
interface Pending {
  event: RecordedEvent;
  done: boolean;
}
