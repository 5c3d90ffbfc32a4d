import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { type Db, runRead, runStatement, type Schema } from "../db";
import { type AppendContext, commit } from "./append";
import { AppendRounds } from "./append-round";
import type { EventBus } from "./bus";
import type { InlineProjection, Tx } from "./inline-projection";
import {
  type EventRow,
  READ_ALL,
  READ_STREAM,
  READ_STREAM_BACK,
  READ_STREAMS,
  STREAM_VERSION,
  SUBSCRIPTION_LAG,
  toRecordedEvent,
} from "./log-sql";
import type {
  AppendResult,
  Checkpoint,
  ExpectedVersion,
  RecordedEvent,
  StreamWrite,
} from "./types";

export interface ReadAllResult {
  events: RecordedEvent[];
  /** Where the next read starts; passes filtered-out and invisible-below-horizon rows safely. */
  next: Checkpoint;
  /** Transactions at or above this id may still commit; nothing below it is missing. */
  horizon: string;
}

/**
 * Sees every append made through the store (append, appendAll, transact): `around` runs the
 * whole call (a span), `writes` is handed the writes just before they go in (metadata to add).
 */
export interface AppendHook {
  around(append: () => Promise<AppendResult>): Promise<AppendResult>;
  writes(writes: StreamWrite[]): StreamWrite[];
}

const READ_BACK_PAGE = 64;
/**
 * recorded_at is its transaction's start, and a transaction inserts moments after it starts,
 * so a stream's times follow its versions to within this: one event older than the window by
 * more means every earlier one is out of it too.
 */
const RECORDED_AT_SKEW_MS = 5 * 60_000;

/** The log: appends (group commit, see AppendRounds) and reads, each a constant statement. */
export class EventStore {
  private readonly projections: InlineProjection[] = [];
  private readonly appends: AppendContext;
  private readonly rounds: AppendRounds;
  private hook: AppendHook | undefined;

  constructor(
    private readonly db: Db,
    bus: EventBus,
    private readonly processId: string = randomUUID(),
  ) {
    this.appends = { db, bus, projections: this.projections };
    this.rounds = new AppendRounds(this.appends);
  }

  /** The id this process puts in its notifications, so it can ignore its own. */
  get id(): string {
    return this.processId;
  }

  registerInline(projection: InlineProjection): void {
    this.projections.push(projection);
    this.rounds.projectionsChanged();
  }

  /** Adds a hook around every append; hooks added later run inside the earlier ones. */
  onAppend(hook: AppendHook): void {
    const outer = this.hook;
    this.hook =
      outer === undefined
        ? hook
        : {
            around: (append) => outer.around(() => hook.around(append)),
            writes: (writes) => hook.writes(outer.writes(writes)),
          };
  }

  append(
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: StreamWrite["events"],
  ): Promise<AppendResult> {
    return this.appendAll([{ streamId, expectedVersion, events }]);
  }

  /**
   * Appends to several streams atomically: every expected version holds, or nothing is written.
   * Appends made in the same tick share one statement and one commit (group commit), each with
   * its own version check and its own answer; inline projections run in that transaction.
   */
  appendAll(writes: StreamWrite[]): Promise<AppendResult> {
    const hook = this.hook;
    if (hook === undefined) return this.rounds.append(writes);
    return hook.around(() => this.rounds.append(hook.writes(writes)));
  }

  /**
   * Runs `prepare` in a transaction (for rows that must commit with the events, such as a new
   * data key), then appends the writes it returns in the same transaction.
   */
  transact(prepare: (trx: Tx) => Promise<StreamWrite[]>): Promise<AppendResult> {
    const hook = this.hook;
    const inTransaction = (prepared: typeof prepare) =>
      commit(this.appends, prepared, (run) => this.db.transaction().execute(run));
    if (hook === undefined) return inTransaction(prepare);
    return hook.around(() => inTransaction(async (trx) => hook.writes(await prepare(trx))));
  }

  async readStream(
    streamId: string,
    /** `since` reads only events recorded from then on, plus the last one (for its version). */
    options: { afterVersion?: number; since?: Date } = {},
    db: Kysely<Schema> = this.db,
  ): Promise<RecordedEvent[]> {
    const after = options.afterVersion ?? 0;
    if (options.since !== undefined)
      return this.readStreamSince(streamId, after, options.since, db);
    return (await runRead<EventRow>(db, READ_STREAM, [streamId, after])).map(toRecordedEvent);
  }

  /** Each stream's events after its version, in one read (in log order). */
  async readStreams(
    reads: readonly { streamId: string; afterVersion: number }[],
  ): Promise<RecordedEvent[]> {
    if (reads.length === 0) return [];
    const rows = await runRead<EventRow>(this.db, READ_STREAMS, [
      reads.map((r) => r.streamId),
      reads.map((r) => r.afterVersion),
    ]);
    return rows.map(toRecordedEvent);
  }

  /**
   * Reads backward from the stream's end until an event is older than the window by more than
   * the skew, so a long stream's old history is not walked; then keeps the window and the last.
   */
  private async readStreamSince(
    streamId: string,
    after: number,
    since: Date,
    db: Kysely<Schema>,
  ): Promise<RecordedEvent[]> {
    const stop = since.getTime() - RECORDED_AT_SKEW_MS;
    const read: RecordedEvent[] = [];
    for (let below = 2 ** 31 - 1; ; ) {
      const rows = await runRead<EventRow>(db, READ_STREAM_BACK, [
        streamId,
        after,
        below,
        READ_BACK_PAGE,
      ]);
      const page = rows.map(toRecordedEvent);
      read.push(...page);
      const oldest = page.at(-1);
      if (oldest === undefined || page.length < READ_BACK_PAGE) break;
      if (page.some((e) => e.recordedAt.getTime() < stop)) break;
      below = oldest.streamVersion;
    }
    const from = since.getTime();
    return read.filter((e, i) => i === 0 || e.recordedAt.getTime() >= from).reverse();
  }

  async streamVersion(streamId: string): Promise<number> {
    const rows = await runRead<{ version: number | string | null }>(this.db, STREAM_VERSION, [
      streamId,
    ]);
    return Number(rows[0]?.version ?? 0);
  }

  /**
   * Reads committed events after a checkpoint in commit-visibility order. Only transactions below
   * the oldest still running one are read, so a slow transaction that commits late is never
   * skipped: its events wait until everything before them is visible.
   */
  async readAll(
    after: Checkpoint,
    options: { limit: number; types?: readonly string[] },
  ): Promise<ReadAllResult> {
    const rows = await runStatement<EventRow & { horizon: string }>(this.db, READ_ALL, [
      after.transactionId,
      after.position,
      options.types ?? null,
      options.limit,
    ]);
    const horizon = rows[0]?.horizon ?? after.transactionId;
    const events = rows.filter((r) => r.event_id !== null).map(toRecordedEvent);
    const last = events.at(-1);
    // A short page means every matching event below the horizon has been read.
    const next =
      events.length < options.limit
        ? { transactionId: horizon, position: 0 }
        : {
            transactionId: last?.transactionId ?? after.transactionId,
            position: last?.globalPosition ?? after.position,
          };
    return { events, next: maxCheckpoint(after, next), horizon };
  }
}

export function compareCheckpoints(a: Checkpoint, b: Checkpoint): number {
  const ta = BigInt(a.transactionId);
  const tb = BigInt(b.transactionId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.position - b.position;
}

function maxCheckpoint(a: Checkpoint, b: Checkpoint): Checkpoint {
  return compareCheckpoints(a, b) >= 0 ? a : b;
}

/**
 * How far a subscription is behind its checkpoint in the events it handles: how many (at most
 * 10000) and the oldest one's time.
 */
export async function subscriptionLag(
  db: Db,
  subscription: { name: string; types: readonly string[] },
): Promise<{ events: number; oldest: Date | undefined }> {
  const rows = await runStatement<{ events: number | string; oldest: Date | string | null }>(
    db,
    SUBSCRIPTION_LAG,
    [subscription.name, subscription.types],
  );
  const row = rows[0];
  return {
    events: Number(row?.events ?? 0),
    oldest: row?.oldest ? new Date(row.oldest) : undefined,
  };
}
