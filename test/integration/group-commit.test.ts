/**
 * Group commit: appends made together share one statement and one commit, yet each keeps its
 * own expected-version check and its own answer, exactly as if they had run one at a time.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { resetCodeKeysProjection } from "../../projections/reset-code-keys";
import { type Db, migrate, type Schema } from "../../src/db";
import { PGliteDialect } from "../../src/db/pglite-dialect";
import {
  CommitNotifier,
  decodeNotification,
  EventBus,
  EventStore,
  type ExpectedVersion,
  type InlineProjection,
  NOTIFY_CHANNEL,
  sqlProjection,
  VersionConflictError,
} from "../../src/event-store";
import { CodeKeys, deriveKeyring, newDataKey } from "../../src/privacy";
import { onPostgres, useTestDatabase } from "../support/database";
import { waitFor } from "../support/wait";

const testDb = useTestDatabase();
let store: EventStore;

const applied: number[] = [];
/** A set-based inline projection: one INSERT for all the events a commit hands it. */
const countedProjection: InlineProjection = {
  name: "counted",
  handles: ["Projected"],
  async apply(trx, event) {
    await this.applyAll?.(trx, [event]);
  },
  async applyAll(trx, events) {
    applied.push(events.length);
    const rows = JSON.stringify(events.map((e) => ({ s: e.streamId, v: e.streamVersion })));
    await sql`insert into counted (stream_id, version)
              select s, v from jsonb_to_recordset(${rows}::jsonb) as r(s text, v int)`.execute(trx);
  },
};

beforeAll(async () => {
  await sql`create table counted (stream_id text not null, version int not null)`.execute(
    testDb.database.db,
  );
  store = new EventStore(testDb.database.db, new EventBus());
  store.registerInline(countedProjection);
});

const stream = () => `group-${randomUUID()}`;
const event = (n: number, type = "Counted") => ({ type, data: { n } });

interface Op {
  expected: ExpectedVersion;
  count: number;
}
type Answer = number | "conflict";

/** What one-at-a-time appends answer: the stream's version after each, or a conflict. */
function oneAtATime(ops: Op[]): Answer[] {
  let version = 0;
  return ops.map(({ expected, count }) => {
    if (expected !== "any" && expected !== version) return "conflict";
    version += count;
    return version;
  });
}

/** Deterministic pseudo-random ops: a third "any", the rest a guess near the stream's end. */
function opsFor(n: number, seed: number): Op[] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: n }, (_, k) => ({
    expected: next() < 0.33 ? "any" : Math.floor(next() * (k / 2 + 2)),
    count: next() < 0.5 ? 1 : 2,
  }));
}

async function answersOf(promises: Promise<{ versions: number[] }>[]): Promise<Answer[]> {
  const settled = await Promise.allSettled(promises);
  return settled.map((s) => {
    if (s.status === "fulfilled") return s.value.versions[0] ?? 0;
    if (s.reason instanceof VersionConflictError) return "conflict";
    throw s.reason;
  });
}

async function transactionsOf(streamIds: string[]): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(distinct transaction_id)::int as n from events
    where stream_id = any(${streamIds}::text[])`.execute(testDb.database.db);
  return Number(rows[0]?.n ?? 0);
}

describe("group commit", () => {
  test("500 concurrent appends to distinct streams: each at version 1, sharing commits", async () => {
    const ids = Array.from({ length: 500 }, stream);
    const answers = await answersOf(ids.map((id) => store.append(id, 0, [event(1)])));
    expect(answers).toEqual(ids.map(() => 1));
    expect(await transactionsOf(ids)).toBeLessThan(50);

    // Again, half of them at a stale version: exactly those fail, the others commit.
    const again = await answersOf(
      ids.map((id, i) => store.append(id, i % 2 === 0 ? 1 : 0, [event(2), event(3)])),
    );
    expect(again).toEqual(ids.map((_, i) => (i % 2 === 0 ? 3 : "conflict")));
    const { rows } = await sql<{ stream_id: string; v: number }>`
      select stream_id, max(stream_version)::int as v from events
      where stream_id = any(${ids}::text[]) group by stream_id`.execute(testDb.database.db);
    const versions = new Map(rows.map((r) => [r.stream_id, Number(r.v)]));
    expect(ids.map((id) => versions.get(id))).toEqual(ids.map((_, i) => (i % 2 === 0 ? 3 : 1)));
  });

  test("500 concurrent appends to one stream: the versions and conflicts of one at a time", async () => {
    const ops = opsFor(500, 42);
    const model = oneAtATime(ops);
    expect(model.filter((a) => a === "conflict").length).toBeGreaterThan(50);

    const together = stream();
    const concurrent = await answersOf(
      ops.map((op, k) =>
        store.append(together, op.expected, [event(k), event(k)].slice(0, op.count)),
      ),
    );
    const alone = stream();
    const sequential: Answer[] = [];
    for (const [k, op] of ops.entries()) {
      sequential.push(
        ...(await answersOf([
          store.append(alone, op.expected, [event(k), event(k)].slice(0, op.count)),
        ])),
      );
    }
    expect(concurrent).toEqual(model);
    expect(sequential).toEqual(model);

    // The log holds the successful appends in call order, numbered without a gap.
    const logged = await store.readStream(together);
    expect(logged.map((e) => e.streamVersion)).toEqual(logged.map((_, i) => i + 1));
    const expectedOrder = ops.flatMap((op, k) =>
      model[k] === "conflict" ? [] : Array.from({ length: op.count }, () => k),
    );
    expect(logged.map((e) => (e.data as { n: number }).n)).toEqual(expectedOrder);
  });

  test("in one commit, a conflict, a repeated append and a failure stay with their own append", async () => {
    const taken = stream();
    const repeated = stream();
    const fine = stream();
    await store.append(taken, 0, [event(1)]);
    const fixed = { ...event(1), eventId: randomUUID() };
    const first = await store.append(repeated, 0, [fixed]);

    const [conflict, repeat, ok, duplicateId] = await Promise.allSettled([
      store.append(taken, 0, [event(2)]),
      store.append(repeated, 0, [fixed]),
      store.append(fine, 0, [event(1), event(2)]),
      // An id already in the log under another stream: refused, and only this append.
      store.append(stream(), 0, [{ ...event(9), eventId: fixed.eventId }]),
    ]);
    expect(conflict.status === "rejected" && conflict.reason).toBeInstanceOf(VersionConflictError);
    expect(repeat.status === "fulfilled" && repeat.value).toMatchObject({
      duplicate: true,
      versions: [1],
    });
    expect(repeat.status === "fulfilled" && repeat.value.events[0]?.globalPosition).toBe(
      first.events[0]?.globalPosition,
    );
    expect(ok.status === "fulfilled" && ok.value.versions).toEqual([2]);
    expect(duplicateId.status).toBe("rejected");
    expect((await store.readStream(taken)).length).toBe(1);
  });

  test("atomic multi-stream appends join the commit and stay all or nothing", async () => {
    const [a, b, c] = [stream(), stream(), stream()];
    await store.append(b, 0, [event(1)]);
    const [both, neither] = await Promise.allSettled([
      store.appendAll([
        { streamId: a, expectedVersion: 0, events: [event(1)] },
        { streamId: c, expectedVersion: "any", events: [event(1)] },
      ]),
      store.appendAll([
        { streamId: stream(), expectedVersion: 0, events: [event(1)] },
        { streamId: b, expectedVersion: 0, events: [event(2)] },
      ]),
    ]);
    expect(both.status === "fulfilled" && both.value.versions).toEqual([1, 1]);
    expect(neither.status === "rejected" && neither.reason).toBeInstanceOf(VersionConflictError);
    expect((await store.readStream(b)).length).toBe(1);
  });

  test("inline projections run once per commit with all its events, in the same transaction", async () => {
    applied.length = 0;
    const ids = Array.from({ length: 200 }, stream);
    await Promise.all(ids.map((id) => store.append(id, 0, [event(1, "Projected")])));
    expect(Math.max(...applied)).toBeGreaterThan(1);
    expect(applied.reduce((n, k) => n + k, 0)).toBe(200);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from counted c join events e
        on e.stream_id = c.stream_id and e.stream_version = c.version
      where c.stream_id = any(${ids}::text[])`.execute(testDb.database.db);
    expect(Number(rows[0]?.n)).toBe(200);
  });
});

describe("no NOTIFY in an append", () => {
  test("no statement of any kind of append mentions NOTIFY", async () => {
    const statements: string[] = [];
    const log = (e: { query: { sql: string } }) => void statements.push(e.query.sql);
    const pglite = testDb.url === undefined ? new PGlite() : undefined;
    const pool = testDb.url ? new pg.Pool({ connectionString: testDb.url, max: 4 }) : undefined;
    const db: Db = new Kysely<Schema>({
      dialect: pool ? new PostgresDialect({ pool }) : new PGliteDialect(pglite as PGlite),
      log,
    });
    try {
      if (pglite) await migrate(db);
      const logged = new EventStore(db, new EventBus());
      logged.registerInline(countedProjection);
      if (pglite) await sql`create table counted (stream_id text, version int)`.execute(db);
      statements.length = 0;
      const id = stream();
      await Promise.all([
        logged.append(id, 0, [event(1)]),
        logged.append(stream(), "any", [event(1, "Projected")]),
        logged.appendAll([
          { streamId: id, expectedVersion: 1, events: [event(2)] },
          { streamId: id, expectedVersion: "any", events: [event(3)] },
        ]),
      ]).catch(() => {});
      await logged.transact(async () => [
        { streamId: stream(), expectedVersion: 0, events: [event(1, "Projected")] },
      ]);
      expect(statements.length).toBeGreaterThan(3);
      expect(statements.filter((s) => /notify/i.test(s))).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});

describe("a round is one statement", () => {
  /** The same read model as `counted`, as CTEs that run inside the round's INSERT. */
  const countedInSql = sqlProjection({
    name: "counted-in-sql",
    handles: ["InSql"],
    sql: {
      ctes: `counted_written as (
        insert into counted (stream_id, version)
        select a.stream_id, a.stream_version
        from jsonb_to_recordset($rows::jsonb) as r(event_id uuid) join appended a using (event_id)
      )`,
      rows: (events) => events.map((e) => ({ event_id: e.eventId })),
    },
  });

  test("events and their SQL projections go in with one statement, without BEGIN or COMMIT", async () => {
    const statements: string[] = [];
    const pglite = testDb.url === undefined ? new PGlite() : undefined;
    const pool = testDb.url ? new pg.Pool({ connectionString: testDb.url, max: 4 }) : undefined;
    const db: Db = new Kysely<Schema>({
      dialect: pool ? new PostgresDialect({ pool }) : new PGliteDialect(pglite as PGlite),
      log: (e) => void statements.push(e.query.sql),
    });
    try {
      if (pglite) {
        await migrate(db);
        await sql`create table counted (stream_id text, version int)`.execute(db);
      }
      const sqlStore = new EventStore(db, new EventBus());
      sqlStore.registerInline(countedInSql);
      const taken = stream();
      await sqlStore.append(taken, 0, [event(1)]);
      statements.length = 0;
      const ids = Array.from({ length: 20 }, stream);
      const answers = await answersOf([
        ...ids.map((id) => sqlStore.append(id, 0, [event(1, "InSql"), event(2, "InSql")])),
        sqlStore.append(taken, 0, [event(2, "InSql")]),
      ]);
      expect(answers).toEqual([...ids.map(() => 2), "conflict"]);
      expect(statements.length).toBeLessThanOrEqual(2);
      expect(statements.filter((s) => /^\s*(begin|commit)/i.test(s))).toEqual([]);
      // The read model holds exactly the committed events: none of the conflicting append's.
      const { rows } = await sql<{ stream_id: string; version: number }>`
        select stream_id, version from counted
        where stream_id = any(${[...ids, taken]}::text[]) order by stream_id, version`.execute(db);
      expect(rows.length).toBe(40);
      expect(rows.some((r) => r.stream_id === taken)).toBe(false);
    } finally {
      await db.destroy();
    }
  });

  test("a round retried one append at a time still writes each request's code key", async () => {
    const keyring = deriveKeyring(Buffer.alloc(32, 5));
    const codeKeys = new CodeKeys(testDb.database.db, keyring);
    const keyStore = new EventStore(testDb.database.db, new EventBus());
    keyStore.registerInline(resetCodeKeysProjection(codeKeys));
    const fixed = { ...event(1), eventId: randomUUID() };
    await keyStore.append(stream(), 0, [fixed]);
    const requestIds = [randomUUID(), randomUUID()];
    for (const id of requestIds) codeKeys.hold(id, newDataKey());
    const answers = await Promise.allSettled([
      ...requestIds.map((requestId) =>
        keyStore.append(stream(), 0, [{ type: "PasswordResetRequested", data: { requestId } }]),
      ),
      // A duplicate id fails the round's statement: every append in it is retried alone.
      keyStore.append(stream(), 0, [fixed]),
    ]);
    expect(answers.map((a) => a.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    // Another process's view: no key handed over in memory, only the rows.
    const elsewhere = new CodeKeys(testDb.database.db, keyring);
    for (const id of requestIds) expect(await elsewhere.find(id)).toBeDefined();
  });
});

describe.skipIf(!onPostgres)("group commit across processes (PostgreSQL)", () => {
  test("two stores racing for one stream: no version twice, every 'any' append lands", async () => {
    const other = new EventStore(testDb.database.db, new EventBus());
    const shared = stream();
    const answers = await answersOf(
      Array.from({ length: 200 }, (_, k) =>
        (k % 2 === 0 ? store : other).append(shared, k % 4 < 2 ? "any" : 0, [event(k)]),
      ),
    );
    const logged = await store.readStream(shared);
    expect(logged.map((e) => e.streamVersion)).toEqual(logged.map((_, i) => i + 1));
    const landed = answers.filter((a) => a !== "conflict").length;
    expect(logged.length).toBe(landed);
    // Every "any" append lands; of the appends expecting an empty stream, at most one does.
    expect(landed).toBeGreaterThanOrEqual(100);
    expect(landed).toBeLessThanOrEqual(101);
  });

  test("other processes hear of the commits after them: one coalesced NOTIFY naming the streams and types", async () => {
    const notify = testDb.database.notify;
    if (notify === undefined) throw new Error("PostgreSQL has notify");
    const heard: { processId: string; streamIds: string[]; types?: string[] }[] = [];
    const unlisten = await testDb.database.listen(NOTIFY_CHANNEL, (payload) => {
      const decoded = decodeNotification(payload);
      if (decoded) heard.push({ processId: decoded.processId, ...decoded.signal });
    });
    const bus = new EventBus();
    const writer = new EventStore(testDb.database.db, bus);
    const notifier = new CommitNotifier(
      (payload) => notify(NOTIFY_CHANNEL, payload),
      bus,
      writer.id,
    );
    notifier.start();
    try {
      const ids = Array.from({ length: 50 }, stream);
      await Promise.all(ids.map((id) => writer.append(id, 0, [event(1)])));
      const named = () =>
        new Set(heard.filter((h) => h.processId === writer.id).flatMap((h) => h.streamIds));
      await waitFor(() => ids.every((id) => named().has(id)), { what: "the streams named" });
      expect(heard.filter((h) => h.processId === writer.id).length).toBeLessThan(ids.length);
      // The types committed, so that a subscription handling none of them stays asleep.
      const types = heard.filter((h) => h.processId === writer.id).map((h) => h.types);
      expect(new Set(types.flat())).toEqual(new Set(["Counted"]));
    } finally {
      await notifier.stop();
      await unlisten();
    }
  });
});
