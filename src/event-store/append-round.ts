import { type Db, isUniqueViolation, runStatement } from "../db";
import { type AppendContext, announce, appendAlone, projects, unwritten } from "./append";
import type { InlineProjection, PendingEvent, ProjectionSql, Tx } from "./inline-projection";
import {
  APPEND,
  type AppendRow,
  appendRows,
  appendStatement,
  type InsertedRow,
  insertedEvents,
} from "./log-sql";
import { bindRows } from "./projection-sql";
import type { AppendResult, RecordedEvent, StreamWrite } from "./types";

/** Rounds committing at once: each round's commit waits on the disk while the next one forms. */
const MAX_ROUNDS_IN_FLIGHT = 4;
const MAX_ROUND_EVENTS = 1000;

/** An append waiting for the next group commit. */
interface Queued {
  writes: StreamWrite[];
  count: number;
  /** A projection that has no SQL form handles one of its events: its round is a transaction. */
  transactional: boolean;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/**
 * Group commit: appends made in the same tick share one statement and one commit, each with
 * its own version check and its own answer; inline projections run in that transaction.
 */
export class AppendRounds {
  /** The round's statement with every SQL projection's CTEs, and which parameter is whose. */
  private projectedRound: { text: string; projections: InlineProjection[] } | undefined;
  private queue: Queued[] = [];
  /** Streams a round in flight writes: their next appends wait for the round's answer. */
  private readonly writing = new Set<string>();
  private rounds = 0;
  private kicked = false;

  constructor(private readonly ctx: AppendContext) {}

  /** The projections changed: the next projected round builds its statement again. */
  projectionsChanged(): void {
    this.projectedRound = undefined;
  }

  /** Queues the append for the next round, or appends it alone when a round cannot hold it. */
  append(writes: StreamWrite[]): Promise<AppendResult> {
    const streams = new Set(writes.map((w) => w.streamId));
    const count = writes.reduce((n, w) => n + w.events.length, 0);
    if (count === 0 || streams.size !== writes.length || count > MAX_ROUND_EVENTS) {
      return appendAlone(this.ctx, writes);
    }
    return new Promise((resolve, reject) => {
      const transactional = projects(this.ctx.projections, writes, (p) => p.sql === undefined);
      this.queue.push({ writes, count, transactional, resolve, reject });
      this.kick();
    });
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
    const { db, bus } = this.ctx;
    let recorded: RecordedEvent[];
    try {
      recorded = round[0]?.transactional
        ? await db.transaction().execute(async (trx) => {
            const events = await this.insertRound(trx, round, false);
            await this.projectAll(trx, events);
            return events;
          })
        : await this.insertRound(db, round, true);
    } catch (error) {
      if (round.length === 1 && !isUniqueViolation(error)) {
        round[0]?.reject(error);
        return;
      }
      // A duplicate event id, a version taken by another process, a projection's error: each
      // append again on its own, so the cause fails only its own append.
      await Promise.all(
        round.map((q) => appendAlone(this.ctx, q.writes).then(q.resolve, q.reject)),
      );
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
        // Its version check failed: a repeat of an append that already committed (its ids are
        // fixed) is answered by it, anything else is a conflict.
        answers.push(() => void unwritten(db, queued.writes).then(queued.resolve, queued.reject));
        continue;
      }
      committed.push(...events);
      for (const w of queued.writes) streamIds.push(w.streamId);
      const versions = queued.writes.map(
        (w) => byStream.get(w.streamId)?.at(-1)?.streamVersion ?? 0,
      );
      answers.push(() => queued.resolve({ versions, events, duplicate: false }));
    }
    announce(bus, streamIds, committed);
    for (const answer of answers) answer();
  }

  /**
   * One versioned insert for the whole round, its rows passed as one JSON parameter so the
   * statement text never changes. With `projected`, the projections' CTEs run in the same
   * statement, on the events it wrote.
   */
  private async insertRound(
    db: Tx | Db,
    round: Queued[],
    projected: boolean,
  ): Promise<RecordedEvent[]> {
    const rows = appendRows(round.map((queued) => queued.writes));
    const query = projected ? this.projectedQuery(rows) : undefined;
    const inserted = await runStatement<InsertedRow>(
      db,
      query?.text ?? APPEND,
      query?.values ?? [JSON.stringify(rows)],
    );
    return insertedEvents(rows, inserted);
  }

  /**
   * The round's statement with the SQL projections' CTEs and each one's rows, or undefined when
   * none of them handles an event of the round.
   */
  private projectedQuery(rows: AppendRow[]): { text: string; values: unknown[] } | undefined {
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
    const projections = this.ctx.projections.filter((p) => p.sql !== undefined);
    const ctes = projections.map((p, i) => bindRows(p.sql as ProjectionSql, i + 2));
    return { text: appendStatement(ctes), projections };
  }

  /** Each inline projection once per round, with all its events (set-based when it can be). */
  private async projectAll(trx: Tx, events: RecordedEvent[]): Promise<void> {
    for (const projection of this.ctx.projections) {
      const mine = events.filter((e) => projection.handles.includes(e.type));
      if (mine.length === 0) continue;
      if (projection.applyAll) await projection.applyAll(trx, mine);
      else for (const event of mine) await projection.apply(trx, event);
    }
  }
}
