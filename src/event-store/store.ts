import { randomUUID } from "node:crypto";
import type { Kysely, Transaction } from "kysely";
import { type Db, runRead, runStatement, type Schema } from "../db";
import { isUniqueViolation } from "../db/errors";
import type { CommitSignal, EventBus } from "./bus";
import { onConflict, withRetries } from "./conflicts";
import { bindRows, type PendingEvent, type ProjectionSql } from "./projection-sql";
import {
  type Checkpoint,
  type Event,
  type ExpectedVersion,
  type Metadata,
  type NewEvent,
  type RecordedEvent,
  type StreamWrite,
  VersionConflictError,
} from "./types";

export type Tx = Transaction<Schema>;

/**
 * A read model updated in the same transaction as the events it reads, typed by the events it
 * handles: the store hands it only those.
 */
export interface InlineProjection<E extends Event = Event> {
  readonly name: string;
  readonly handles: readonly E["type"][];
  apply(trx: Tx, event: RecordedEvent<E>): Promise<void>;
  /**
   * The events of one group commit that this projection handles, in log order, as few
   * statements as it can; without it, apply() runs once per event.
   */
  applyAll?(trx: Tx, events: RecordedEvent<E>[]): Promise<void>;
  /** The same, as CTEs the round's own statement runs (see `sqlProjection`). */
  sql?: ProjectionSql<E>;
}

export interface AppendResult {
  /** The stream's version after the append, per stream, in write order. */
  versions: number[];
  events: RecordedEvent[];
  /** True when every event id was already in the log: nothing new was written. */
  duplicate: boolean;
}

export interface ReadAllResult {
  events: RecordedEvent[];
  /** Where the next read starts; passes filtered-out and invisible-below-horizon rows safely. */
  next: Checkpoint;
  /** Transactions at or above this id may still commit; nothing below it is missing. */
  horizon: string;
}

interface EventRow {
  global_position: number | string;
  transaction_id: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  data: unknown;
  metadata: unknown;
  recorded_at: Date | string;
}

/** An append waiting for the next group commit. */
interface Queued {
  writes: StreamWrite[];
  count: number;
  /** A projection that has no SQL form handles one of its events: its round is a transaction. */
  transactional: boolean;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

interface RoundRow {
  g: number;
  w: number;
  stream_id: string;
  expected: number | null;
  ord: number;
  event_id: string;
  type: string;
  data: unknown;
  metadata: unknown;
}

interface InsertedRow {
  global_position: number | string;
  transaction_id: string;
  event_id: string;
  stream_version: number;
  recorded_at: Date | string;
}

// The statements of every read, written once: nothing is built or compiled per call.
const EVENT_COLUMNS = `global_position, transaction_id::text as transaction_id,
  event_id::text as event_id, stream_id, stream_version, type, data, metadata, recorded_at`;
const READ_STREAM = `select ${EVENT_COLUMNS} from events
  where stream_id = $1 and stream_version > $2 order by stream_version`;
// Several streams' events after a version each, in one statement.
const READ_STREAMS = `select ${EVENT_COLUMNS} from events e
  where e.stream_id = any($1::text[]) and exists (
    select 1 from unnest($1::text[], $2::int[]) as r(s, v)
    where r.s = e.stream_id and e.stream_version > r.v)
  order by e.global_position`;
// A stream from its end backward, one page at a time: a read of the last hour stops near it.
const READ_STREAM_BACK = `select ${EVENT_COLUMNS} from events
  where stream_id = $1 and stream_version > $2 and stream_version < $3
  order by stream_version desc limit $4`;
const READ_BACK_PAGE = 64;
/**
 * recorded_at is its transaction's start, and a transaction inserts moments after it starts,
 * so a stream's times follow its versions to within this: one event older than the window by
 * more means every earlier one is out of it too.
 */
const RECORDED_AT_SKEW_MS = 5 * 60_000;
const READ_ALL = `
  with snapshot as (select pg_snapshot_xmin(pg_current_snapshot()) as horizon)
  select s.horizon::text as horizon, e.global_position, e.transaction_id::text as transaction_id,
         e.event_id::text as event_id, e.stream_id, e.stream_version, e.type, e.data,
         e.metadata, e.recorded_at
  from snapshot s left join lateral (
    select * from events
    where (transaction_id, global_position) > ($1::xid8, $2::bigint)
      and transaction_id < s.horizon
      and ($3::text[] is null or type = any($3::text[]))
    order by transaction_id, global_position
    limit $4
  ) e on true`;
const READ_IDS = `select ${EVENT_COLUMNS} from events
  where event_id = any($1::uuid[]) order by global_position`;
// An append on its own: each stream's base is its expected version (its current end for "any"),
// and a version taken meanwhile fails the statement (unique violation).
const INSERT = `
  insert into events (event_id, stream_id, stream_version, type, data, metadata)
  select v.event_id, v.stream_id, b.base + v.ord, v.type, v.data, v.metadata
  from jsonb_to_recordset($1::jsonb) as v(w int, stream_id text, expected int, ord int,
    event_id uuid, type text, data jsonb, metadata jsonb)
  cross join lateral (
    select coalesce(v.expected,
      (select coalesce(max(stream_version), 0) from events x where x.stream_id = v.stream_id)) as base
  ) as b
  where v.expected is null or v.expected = 0
     or exists (select 1 from events x where x.stream_id = v.stream_id and x.stream_version = v.expected)
  order by v.w, v.ord
  returning ${EVENT_COLUMNS}`;
const STREAM_VERSION = "select max(stream_version) as version from events where stream_id = $1";

/** Rounds committing at once: each round's commit waits on the disk while the next one forms. */
const MAX_ROUNDS_IN_FLIGHT = 4;
const MAX_ROUND_EVENTS = 1000;

// g: the append (all or nothing), w: one stream's write in it. The head is the stream's end as
// this statement sees it; a version taken by a transaction it cannot see yet fails the whole
// statement (unique violation) and the round's appends are retried one by one. The inline
// projections' CTEs, when there are any, follow `appended` in the same statement.
const roundStatement = (projections: string[]) => `
  with v as (
    select * from jsonb_to_recordset($1::jsonb) as v(g int, w int, stream_id text, expected int,
      ord int, event_id uuid, type text, data jsonb, metadata jsonb)
  ),
  heads as (
    select v.g, v.w, v.expected,
      (select coalesce(max(x.stream_version), 0) from events x where x.stream_id = v.stream_id) as head
    from v where v.ord = 1
  ),
  accepted as (
    select g from heads group by g having bool_and(expected is null or expected = head)
  ),
  appended as (
    insert into events (event_id, stream_id, stream_version, type, data, metadata)
    select v.event_id, v.stream_id, h.head + v.ord, v.type, v.data, v.metadata
    from v join heads h on h.w = v.w
    where v.g in (select g from accepted)
    order by v.w, v.ord
    returning global_position, transaction_id, event_id, stream_id, stream_version, type, data,
              recorded_at
  )${projections.map((ctes) => `,\n${ctes}`).join("")}
  select global_position, transaction_id::text as transaction_id, event_id::text as event_id,
         stream_version, recorded_at
  from appended`;
const ROUND_INSERT = roundStatement([]);

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    globalPosition: Number(row.global_position),
    transactionId: String(row.transaction_id),
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    type: row.type,
    data: row.data as Record<string, unknown>,
    metadata: (row.metadata ?? {}) as Metadata,
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
  };
}

export class EventStore {
  private readonly projections: InlineProjection[] = [];
  /** The round's statement with every SQL projection's CTEs, and which parameter is whose. */
  private projectedRound: { text: string; projections: InlineProjection[] } | undefined;
  private queue: Queued[] = [];
  /** Streams a round in flight writes: their next appends wait for the round's answer. */
  private readonly writing = new Set<string>();
  private rounds = 0;
  private kicked = false;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly processId: string = randomUUID(),
  ) {}

  /** The id this process puts in its notifications, so it can ignore its own. */
  get id(): string {
    return this.processId;
  }

  registerInline(projection: InlineProjection): void {
    this.projections.push(projection);
    this.projectedRound = undefined;
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
    const streams = new Set(writes.map((w) => w.streamId));
    const count = writes.reduce((n, w) => n + w.events.length, 0);
    if (count === 0 || streams.size !== writes.length || count > MAX_ROUND_EVENTS) {
      return this.appendAlone(writes);
    }
    return new Promise((resolve, reject) => {
      const transactional = this.projects(writes, (p) => p.sql === undefined);
      this.queue.push({ writes, count, transactional, resolve, reject });
      this.kick();
    });
  }

  /** One append in its own statement (and transaction when a projection writes). */
  private appendAlone(writes: StreamWrite[]): Promise<AppendResult> {
    // Nothing else to write: the one INSERT is its own transaction, with no BEGIN/COMMIT trips.
    if (!this.projects(writes, () => true))
      return this.commit(
        async () => writes,
        (run) => run(this.db),
      );
    return this.transact(async () => writes);
  }

  /** Whether a projection that `which` picks handles one of the writes' events. */
  private projects(writes: StreamWrite[], which: (p: InlineProjection) => boolean): boolean {
    return writes.some((w) =>
      w.events.some((e) => this.projections.some((p) => which(p) && p.handles.includes(e.type))),
    );
  }

  /** Starts a round on the next tick, so every append made in this one can join it. */
  private kick(): void {
    if (this.kicked || this.queue.length === 0 || this.rounds >= MAX_ROUNDS_IN_FLIGHT) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.startRound();
    });
  }

  /**
   * Takes the queued appends a round can hold: one write per stream, and none to a stream that
   * a round in flight is writing, so each stream's appends commit in the order they were made.
   */
  private startRound(): void {
    // Appends whose projections are all CTEs commit as one statement, apart from the ones
    // that need a transaction: they are not held up by its extra round trips.
    const rounds = { transactional: [] as Queued[], single: [] as Queued[] };
    const sizes = { transactional: 0, single: 0 };
    const rest: Queued[] = [];
    const held = new Set<string>();
    for (const queued of this.queue) {
      const kind = queued.transactional ? "transactional" : "single";
      const streams = queued.writes.map((w) => w.streamId);
      const free = streams.every((id) => !held.has(id) && !this.writing.has(id));
      if (free && sizes[kind] + queued.count <= MAX_ROUND_EVENTS) {
        rounds[kind].push(queued);
        sizes[kind] += queued.count;
      } else rest.push(queued);
      for (const id of streams) held.add(id);
    }
    this.queue = rest;
    const started = rounds.single.length > 0 || rounds.transactional.length > 0;
    for (const round of [rounds.single, rounds.transactional]) {
      if (round.length === 0) continue;
      for (const queued of round) for (const w of queued.writes) this.writing.add(w.streamId);
      this.rounds++;
      void this.commitRound(round).finally(() => {
        for (const queued of round) for (const w of queued.writes) this.writing.delete(w.streamId);
        this.rounds--;
        this.kick();
      });
    }
    // What is left waits for a stream a round in flight is writing, and the round's end kicks
    // again: kicking now would spin on setImmediate until then.
    if (started) this.kick();
  }

  private async commitRound(round: Queued[]): Promise<void> {
    let recorded: RecordedEvent[];
    try {
      recorded = round[0]?.transactional
        ? await this.db.transaction().execute(async (trx) => {
            const events = await this.insertRound(trx, round, false);
            await this.projectAll(trx, events);
            return events;
          })
        : await this.insertRound(this.db, round, true);
    } catch (error) {
      if (round.length === 1 && !isUniqueViolation(error)) {
        round[0]?.reject(error);
        return;
      }
      // A duplicate event id, a version taken by another process, a projection's error: each
      // append again on its own, so the cause fails only its own append.
      await Promise.all(round.map((q) => this.appendAlone(q.writes).then(q.resolve, q.reject)));
      return;
    }
    const byStream = new Map<string, RecordedEvent[]>();
    for (const event of recorded) {
      const list = byStream.get(event.streamId);
      if (list) list.push(event);
      else byStream.set(event.streamId, [event]);
    }
    const committed: RecordedEvent[] = [];
    const streamIds: string[] = [];
    const answers: (() => void)[] = [];
    for (const queued of round) {
      const events = queued.writes.flatMap((w) => byStream.get(w.streamId) ?? []);
      if (events.length !== queued.count) {
        // A repeat of an append that already committed (its ids are fixed) is answered by it.
        if (queued.writes.some((w) => w.events.some((e) => e.eventId !== undefined))) {
          answers.push(() => void this.existing(queued.writes).then(queued.resolve, queued.reject));
          continue;
        }
        const stale = queued.writes.find((w) => w.expectedVersion !== "any") ?? queued.writes[0];
        const error = new VersionConflictError(
          stale?.streamId ?? "",
          stale?.expectedVersion ?? "any",
        );
        answers.push(() => queued.reject(error));
        continue;
      }
      committed.push(...events);
      for (const w of queued.writes) streamIds.push(w.streamId);
      const versions = queued.writes.map(
        (w) => byStream.get(w.streamId)?.at(-1)?.streamVersion ?? 0,
      );
      answers.push(() => queued.resolve({ versions, events, duplicate: false }));
    }
    const first = committed[0];
    if (first !== undefined) {
      this.bus.emit("commit", { transactionId: first.transactionId, streamIds, events: committed });
    }
    for (const answer of answers) answer();
  }

  /**
   * One INSERT for the whole round, its rows passed as one JSON parameter so the statement text
   * never changes. Each write's base is its stream's current end; an append whose expected
   * version is not that end writes nothing, and the others are unaffected. With `projected`,
   * the projections' CTEs run in the same statement, on the events it wrote.
   */
  private async insertRound(
    db: Tx | Db,
    round: Queued[],
    projected: boolean,
  ): Promise<RecordedEvent[]> {
    const rows: RoundRow[] = [];
    const events: { write: StreamWrite; event: NewEvent; eventId: string }[] = [];
    let w = 0;
    round.forEach((queued, g) => {
      for (const write of queued.writes) {
        w++;
        write.events.forEach((event, i) => {
          const eventId = event.eventId ?? randomUUID();
          events.push({ write, event, eventId });
          rows.push({
            g,
            w,
            stream_id: write.streamId,
            expected: write.expectedVersion === "any" ? null : write.expectedVersion,
            ord: i + 1,
            event_id: eventId,
            type: event.type,
            data: event.data,
            metadata: event.metadata ?? {},
          });
        });
      }
    });
    const query = projected ? this.projectedQuery(rows) : undefined;
    const inserted = await runStatement<InsertedRow>(
      db,
      query?.text ?? ROUND_INSERT,
      query?.values ?? [JSON.stringify(rows)],
    );
    const byId = new Map(inserted.map((r) => [r.event_id, r]));
    const recorded: RecordedEvent[] = [];
    for (const { write, event, eventId } of events) {
      const row = byId.get(eventId);
      if (row === undefined) continue;
      recorded.push({
        type: event.type,
        data: event.data,
        eventId,
        streamId: write.streamId,
        streamVersion: row.stream_version,
        globalPosition: Number(row.global_position),
        transactionId: String(row.transaction_id),
        metadata: event.metadata ?? {},
        recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
      } as RecordedEvent);
    }
    return recorded.sort((a, b) => a.globalPosition - b.globalPosition);
  }

  /**
   * The round's statement with the SQL projections' CTEs and each one's rows, or undefined when
   * none of them handles an event of the round.
   */
  private projectedQuery(rows: RoundRow[]): { text: string; values: unknown[] } | undefined {
    this.projectedRound ??= this.buildProjectedRound();
    const { text, projections } = this.projectedRound;
    let any = false;
    const values: unknown[] = [JSON.stringify(rows)];
    for (const projection of projections) {
      const mine: PendingEvent[] = [];
      for (const row of rows) {
        if (!projection.handles.includes(row.type)) continue;
        mine.push({
          eventId: row.event_id,
          streamId: row.stream_id,
          type: row.type,
          data: row.data as Record<string, unknown>,
        } as PendingEvent);
      }
      const projected = mine.length > 0 ? (projection.sql?.rows(mine) ?? []) : [];
      if (projected.length > 0) any = true;
      values.push(JSON.stringify(projected));
    }
    return any ? { text, values } : undefined;
  }

  private buildProjectedRound(): { text: string; projections: InlineProjection[] } {
    const projections = this.projections.filter((p) => p.sql !== undefined);
    const ctes = projections.map((p, i) => bindRows(p.sql as ProjectionSql, i + 2));
    return { text: roundStatement(ctes), projections };
  }

  /** Each inline projection once per round, with all its events (set-based when it can be). */
  private async projectAll(trx: Tx, events: RecordedEvent[]): Promise<void> {
    for (const projection of this.projections) {
      const mine = events.filter((e) => projection.handles.includes(e.type));
      if (mine.length === 0) continue;
      if (projection.applyAll) await projection.applyAll(trx, mine);
      else for (const event of mine) await projection.apply(trx, event);
    }
  }

  /**
   * Runs `prepare` in a transaction (for rows that must commit with the events, such as a new
   * data key), then appends the writes it returns in the same transaction.
   */
  transact(prepare: (trx: Tx) => Promise<StreamWrite[]>): Promise<AppendResult> {
    return this.commit(prepare, (run) => this.db.transaction().execute(run));
  }

  private async commit(
    prepare: (trx: Tx) => Promise<StreamWrite[]>,
    within: (run: (db: Tx | Db) => Promise<AppendResult>) => Promise<AppendResult>,
  ): Promise<AppendResult> {
    let writes: StreamWrite[] = [];
    // "any" means at the end, wherever that is: a race for the end is retried, not an error.
    const raceForTheEnd = (error: unknown) =>
      isUniqueViolation(error, "events_stream_id_stream_version_key") &&
      writes.every((w) => w.expectedVersion === "any");
    let result: AppendResult;
    try {
      result = await withRetries(
        () =>
          within(async (db) => {
            writes = await prepare(db as Tx);
            return this.appendIn(db, writes);
          }),
        onConflict({}, raceForTheEnd),
      );
    } catch (error) {
      if (isUniqueViolation(error, "events_event_id_key")) return this.existing(writes);
      if (!isUniqueViolation(error, "events_stream_id_stream_version_key")) throw error;
      const first = writes[0];
      throw new VersionConflictError(first?.streamId ?? "", first?.expectedVersion ?? "any");
    }
    const first = result.events[0];
    if (first !== undefined) {
      const signal: CommitSignal = {
        transactionId: first.transactionId,
        streamIds: writes.map((w) => w.streamId),
        events: result.events,
      };
      this.bus.emit("commit", signal);
    }
    return result;
  }

  private async appendIn(db: Tx | Db, writes: StreamWrite[]): Promise<AppendResult> {
    const rows = await this.insert(db, writes);
    const recorded = rows.map(toRecordedEvent).sort((a, b) => a.globalPosition - b.globalPosition);
    const versions = writes.map((write) => {
      const mine = recorded.filter((e) => e.streamId === write.streamId);
      if (mine.length !== write.events.length) {
        throw new VersionConflictError(write.streamId, write.expectedVersion);
      }
      return mine.at(-1)?.streamVersion ?? 0;
    });
    for (const event of recorded) {
      for (const projection of this.projections) {
        if (projection.handles.includes(event.type)) await projection.apply(db as Tx, event);
      }
    }
    return { versions, events: recorded, duplicate: false };
  }

  /**
   * One INSERT for every write: each stream's base version is checked inside the statement (the
   * stream must end exactly at the expected version; "any" takes its current end). No NOTIFY:
   * other processes hear of the commit from the CommitNotifier, after it.
   */
  private async insert(db: Tx | Db, writes: StreamWrite[]): Promise<EventRow[]> {
    const rows = writes.flatMap((write, w) =>
      write.events.map((e, i) => ({
        w,
        stream_id: write.streamId,
        expected: write.expectedVersion === "any" ? null : write.expectedVersion,
        ord: i + 1,
        event_id: e.eventId ?? randomUUID(),
        type: e.type,
        data: e.data,
        metadata: e.metadata ?? {},
      })),
    );
    if (rows.length === 0) return [];
    return runStatement<EventRow>(db, INSERT, [JSON.stringify(rows)]);
  }

  /** A re-append of ids already in the log succeeds without writing, if it is the same append. */
  private async existing(writes: StreamWrite[]): Promise<AppendResult> {
    const ids = writes.flatMap((w) => w.events.map((e) => e.eventId)).filter(Boolean) as string[];
    const rows = ids.length ? await runStatement<EventRow>(this.db, READ_IDS, [ids]) : [];
    const expected = writes.reduce((n, w) => n + w.events.length, 0);
    const sameStreams = rows.every((r) => writes.some((w) => w.streamId === r.stream_id));
    if (rows.length !== expected || !sameStreams) {
      const first = writes[0];
      throw new VersionConflictError(first?.streamId ?? "", first?.expectedVersion ?? "any");
    }
    const events = rows.map(toRecordedEvent);
    const versions = writes.map((w) =>
      Math.max(0, ...events.filter((e) => e.streamId === w.streamId).map((e) => e.streamVersion)),
    );
    return { versions, events, duplicate: true };
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

  /**
   * Reads backward from the stream's end until an event is older than the window by more than
   * the skew, so a long stream's old history is not walked; then keeps the window and the last.
   */
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
