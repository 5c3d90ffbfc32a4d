import type { Db } from "../db";
import { consoleLogger, type ErrorLogger } from "../log";
import { sleep } from "../retry";
import type { CommitSignal, EventBus } from "./bus";
import { CheckpointKeeper } from "./checkpoint-keeper";
import { Dispatcher, type ReactorHandler } from "./dispatcher";
import { Lease } from "./lease";
import { compareCheckpoints, type EventStore } from "./store";
import type { Checkpoint, RecordedEvent } from "./types";
import { pauseAfterFailure, WakeUps } from "./wake-ups";

export interface SubscriptionOptions {
  name: string;
  types?: readonly string[];
  handler: ReactorHandler;
  batchSize?: number;
  /** How long a lease lasts without renewal: a dead owner is replaced after at most this. */
  leaseMs?: number;
  /** The safety-net poll for wake-ups that never came. */
  pollMs?: number;
  log?: ErrorLogger;
}

/**
 * One named, checkpointed reader of the log, run by the lease owner across processes: it reads
 * only below the snapshot horizon (README, Subscriptions), hands what it read to the dispatcher,
 * and starts this process's own fresh commits from the bus before the scan reaches them.
 */
export class Subscription {
  readonly name: string;
  private readonly types: readonly string[] | undefined;
  private readonly batchSize: number;
  private readonly log: ErrorLogger;
  private readonly lease: Lease;
  private readonly checkpoints: CheckpointKeeper;
  private readonly dispatcher: Dispatcher;
  private readonly wakeUps: WakeUps;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** The last read found every handler slot busy: the next one to free wakes the loop. */
  private waitingForSlot = false;

  private readonly onCommit = (signal: CommitSignal) => {
    // Another process's commit of none of our types: the scan would find nothing in it.
    const { types } = this;
    if (types && signal.types && !signal.types.some((t) => types.includes(t))) return;
    // This process's own commit, every event of ours already running: the log scan that
    // confirms them (and moves the checkpoint) can wait and cover many commits in one read.
    if (signal.events && this.startEarly(signal.events)) {
      this.wakeUps.wakeSoon();
      return;
    }
    this.wakeUps.signalled(signal.transactionId);
  };

  constructor(
    db: Db,
    private readonly store: EventStore,
    private readonly bus: EventBus,
    options: SubscriptionOptions,
  ) {
    this.name = options.name;
    this.types = options.types;
    this.batchSize = options.batchSize ?? 100;
    this.log = options.log ?? consoleLogger;
    this.lease = new Lease(db, this.name, options.leaseMs ?? 5_000, this.log);
    this.checkpoints = new CheckpointKeeper(db, this.name, this.lease, this.log);
    this.dispatcher = new Dispatcher(
      options.handler,
      this.name,
      () => this.stopped || !this.lease.held,
      this.log,
    );
    this.wakeUps = new WakeUps(options.pollMs ?? 1_000);
  }

  get isOwner(): boolean {
    return this.lease.held;
  }

  /** Started and not stopped: its loop is taking or waiting for the lease. */
  get isRunning(): boolean {
    return this.running !== undefined && !this.stopped;
  }

  /** The position up to which every event has been fully handled. */
  get position(): Checkpoint {
    return this.checkpoints.position;
  }

  start(): void {
    if (this.running) return;
    this.bus.on("commit", this.onCommit);
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.bus.off("commit", this.onCommit);
    this.wakeUps.stop();
    await this.running;
    await this.dispatcher.settle();
    await this.checkpoints.stop();
    if (this.lease.held) {
      await this.checkpoints.saveLast();
      await this.lease.release();
    }
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const term = await this.lease.hold();
        if (!term.held) {
          await sleep(this.lease.retryMs);
          continue;
        }
        if (term.startedFrom) this.checkpoints.restart(term.startedFrom);
        await this.wakeUps.beforeRead();
        const progressed = await this.step();
        failures = 0;
        if (!progressed) await this.wakeUps.idle(this.checkpoints.cursor);
      } catch (error) {
        failures++;
        this.log.error(`${this.name}: retrying after failure ${failures}`, { error });
        await sleep(pauseAfterFailure(failures));
      }
    }
  }

  /** One read of the log from the cursor, as much as the free handler slots can take. */
  private async step(): Promise<boolean> {
    const capacity = this.dispatcher.capacity;
    this.waitingForSlot = capacity <= 0;
    if (this.waitingForSlot) return false;
    const batch = await this.store.readAll(this.checkpoints.cursor, {
      limit: Math.min(capacity, this.batchSize),
      types: this.types,
    });
    for (const event of batch.events) {
      const finished = this.checkpoints.track(event);
      // Another process's commit within this term needs no check for an earlier handling.
      const fresh = this.lease.fresh && this.lease.withinTerm(event.recordedAt);
      this.dispatcher.dispatch(
        event,
        (handled) => {
          finished(handled);
          if (this.waitingForSlot) {
            this.waitingForSlot = false;
            this.wakeUps.wake();
          }
        },
        fresh,
      );
    }
    this.checkpoints.readTo(batch.next);
    return batch.events.length > 0;
  }

  /**
   * The scan only passes the snapshot horizon, which trails commits while other transactions
   * are open; the owner starts its own fresh commits at once instead. True when every event of
   * ours among them is now running (or was read by the scan).
   */
  private startEarly(events: RecordedEvent[]): boolean {
    if (this.stopped || !this.lease.fresh) return false;
    let all = true;
    for (const event of events) {
      if (this.types !== undefined && !this.types.includes(event.type)) continue;
      // The scan may have read it already (the announcement comes after the commit): its run stands.
      const at = { transactionId: event.transactionId, position: event.globalPosition };
      if (compareCheckpoints(at, this.checkpoints.cursor) <= 0) continue;
      if (!this.dispatcher.startEarly(event)) all = false;
    }
    return all;
  }
}
