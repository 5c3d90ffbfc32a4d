import { type Db, isUniqueViolation, runStatement } from "../db";
import type { EventBus } from "./bus";
import { onConflict, withRetries } from "./conflicts";
import type { InlineProjection, Tx } from "./inline-projection";
import {
  APPEND,
  appendRows,
  type EventRow,
  type InsertedRow,
  insertedEvents,
  READ_IDS,
  toRecordedEvent,
} from "./log-sql";
import {
  type AppendResult,
  type RecordedEvent,
  type StreamWrite,
  VersionConflictError,
} from "./types";

const VERSION_TAKEN = "events_stream_id_stream_version_key";

/** What an append writes with: the log, the bus it announces commits on, the inline projections. */
export interface AppendContext {
  readonly db: Db;
  readonly bus: EventBus;
  readonly projections: readonly InlineProjection[];
}

/** Whether a projection that `which` picks handles one of the writes' events. */
export function projects(
  projections: readonly InlineProjection[],
  writes: readonly StreamWrite[],
  which: (p: InlineProjection) => boolean,
): boolean {
  return writes.some((w) =>
    w.events.some((e) => projections.some((p) => which(p) && p.handles.includes(e.type))),
  );
}

/** One append in its own statement (and transaction when a projection writes). */
export function appendAlone(ctx: AppendContext, writes: StreamWrite[]): Promise<AppendResult> {
  const prepare = async () => writes;
  // Nothing else to write: the one INSERT is its own transaction, with no BEGIN/COMMIT trips.
  if (!projects(ctx.projections, writes, () => true))
    return commit(ctx, prepare, (run) => run(ctx.db));
  return commit(ctx, prepare, (run) => ctx.db.transaction().execute(run));
}

/**
 * Runs `prepare` inside `within` (a transaction, or the database itself for one statement),
 * then appends the writes it returns there; a race for the end of an "any" stream is retried.
 */
export async function commit(
  ctx: AppendContext,
  prepare: (trx: Tx) => Promise<StreamWrite[]>,
  within: (run: (db: Tx | Db) => Promise<AppendResult>) => Promise<AppendResult>,
): Promise<AppendResult> {
  let writes: StreamWrite[] = [];
  // "any" means at the end, wherever that is: a race for the end is retried, not an error.
  const raceForTheEnd = (error: unknown) =>
    isUniqueViolation(error, VERSION_TAKEN) && writes.every((w) => w.expectedVersion === "any");
  let result: AppendResult;
  try {
    result = await withRetries(
      () =>
        within(async (db) => {
          writes = await prepare(db as Tx);
          return appendIn(ctx, db, writes);
        }),
      onConflict({}, raceForTheEnd),
    );
  } catch (error) {
    // Its version check failed, or one of its ids is in the log already.
    if (error instanceof VersionConflictError || isUniqueViolation(error, "events_event_id_key")) {
      return unwritten(ctx.db, writes);
    }
    if (isUniqueViolation(error, VERSION_TAKEN)) throw conflictOf(writes);
    throw error;
  }
  announce(
    ctx.bus,
    writes.map((w) => w.streamId),
    result.events,
  );
  return result;
}

/**
 * The versioned insert for one append, then its inline projections in the same transaction.
 * It writes all of the append or none of it; none throws, so that the transaction rolls back.
 */
async function appendIn(
  ctx: AppendContext,
  db: Tx | Db,
  writes: StreamWrite[],
): Promise<AppendResult> {
  const rows = appendRows([writes]);
  const events =
    rows.length === 0
      ? []
      : insertedEvents(rows, await runStatement<InsertedRow>(db, APPEND, [JSON.stringify(rows)]));
  if (events.length !== rows.length) throw conflictOf(writes);
  const versions = writes.map(
    (write) => events.findLast((e) => e.streamId === write.streamId)?.streamVersion ?? 0,
  );
  for (const event of events) {
    for (const projection of ctx.projections) {
      if (projection.handles.includes(event.type)) await projection.apply(db as Tx, event);
    }
  }
  return { versions, events, duplicate: false };
}

/**
 * The answer for an append whose events did not go in: a repeat of an append already in the
 * log (its ids are fixed) succeeds without writing; anything else is a version conflict.
 */
export async function unwritten(db: Db, writes: StreamWrite[]): Promise<AppendResult> {
  const ids = writes.flatMap((w) => w.events.map((e) => e.eventId)).filter(Boolean) as string[];
  const rows = ids.length ? await runStatement<EventRow>(db, READ_IDS, [ids]) : [];
  const expected = writes.reduce((n, w) => n + w.events.length, 0);
  const sameStreams = rows.every((r) => writes.some((w) => w.streamId === r.stream_id));
  if (rows.length !== expected || !sameStreams) throw conflictOf(writes);
  const events = rows.map(toRecordedEvent);
  const versions = writes.map((w) =>
    Math.max(0, ...events.filter((e) => e.streamId === w.streamId).map((e) => e.streamVersion)),
  );
  return { versions, events, duplicate: true };
}

/** The conflict of an append: its first write that expected a version (or its first write). */
function conflictOf(writes: StreamWrite[]): VersionConflictError {
  const stale = writes.find((w) => w.expectedVersion !== "any") ?? writes[0];
  return new VersionConflictError(stale?.streamId ?? "", stale?.expectedVersion ?? "any");
}

/** A commit, to this process's listeners; other processes hear of it from the CommitNotifier. */
export function announce(bus: EventBus, streamIds: string[], events: RecordedEvent[]): void {
  const first = events[0];
  if (first === undefined) return;
  bus.emit("commit", { transactionId: first.transactionId, streamIds, events });
}
