import { beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import {
  compareCheckpoints,
  EventBus,
  EventStore,
  type RecordedEvent,
  Subscription,
  VersionConflictError,
} from "../../src/event-store";
import { silentLogger } from "../../src/log";
import { onPostgres, useTestDatabase } from "../support/database";
import { waitFor } from "../support/wait";

const testDb = useTestDatabase();
let bus: EventBus;
let store: EventStore;

beforeAll(() => {
  bus = new EventBus();
  store = new EventStore(testDb.database.db, bus);
});

const stream = () => `test-${randomUUID()}`;
const event = (n: number, eventId?: string) => ({ type: "Counted", data: { n }, eventId });

/** `feed`: the bus it hears commits on; the store's own bus also hands it this process's events. */
function subscription(name: string, seen: RecordedEvent[], feed = bus) {
  return new Subscription(testDb.database.db, store, feed, {
    name,
    types: ["Counted"],
    leaseMs: 600,
    pollMs: 50,
    log: silentLogger,
    handler: {
      concurrency: 4,
      async handle(e) {
        seen.push(e);
      },
    },
  });
}

const checkpointOf = (e: RecordedEvent) => ({
  transactionId: e.transactionId,
  position: e.globalPosition,
});

describe("append", () => {
  test("numbers a stream's events from 1 and reads them back in order", async () => {
    const id = stream();
    const first = await store.append(id, 0, [event(1), event(2)]);
    expect(first.versions).toEqual([2]);
    await store.append(id, 2, [event(3)]);
    const events = await store.readStream(id);
    expect(events.map((e) => [e.streamVersion, e.data])).toEqual([
      [1, { n: 1 }],
      [2, { n: 2 }],
      [3, { n: 3 }],
    ]);
  });

  test("reads several streams, each after its own version, in one read", async () => {
    const [a, b, untouched] = [stream(), stream(), stream()];
    await store.append(a, 0, [event(1), event(2), event(3)]);
    await store.append(b, 0, [event(4), event(5)]);
    await store.append(untouched, 0, [event(6)]);
    const events = await store.readStreams([
      { streamId: a, afterVersion: 1 },
      { streamId: b, afterVersion: 0 },
      { streamId: b, afterVersion: 1 },
    ]);
    expect(events.map((e) => [e.streamId, e.streamVersion])).toEqual([
      [a, 2],
      [a, 3],
      [b, 1],
      [b, 2],
    ]);
  });

  test("rejects an append at a stale or future expected version and writes nothing", async () => {
    const id = stream();
    await store.append(id, 0, [event(1)]);
    await expect(store.append(id, 0, [event(2)])).rejects.toBeInstanceOf(VersionConflictError);
    await expect(store.append(id, 5, [event(2)])).rejects.toBeInstanceOf(VersionConflictError);
    expect(await store.streamVersion(id)).toBe(1);
  });

  test("two concurrent appends at one expected version: exactly one wins", async () => {
    const id = stream();
    await store.append(id, 0, [event(1)]);
    const results = await Promise.allSettled([
      store.append(id, 1, [event(2)]),
      store.append(id, 1, [event(3)]),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(VersionConflictError);
    expect(await store.streamVersion(id)).toBe(2);
  });

  test("re-appending the same event ids is idempotent", async () => {
    const id = stream();
    const eventId = randomUUID();
    const first = await store.append(id, 0, [event(1, eventId)]);
    const again = await store.append(id, 0, [event(1, eventId)]);
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.events[0]?.globalPosition).toBe(first.events[0]?.globalPosition);
    expect(await store.readStream(id)).toHaveLength(1);
  });

  test("appends to several streams atomically", async () => {
    const a = stream();
    const b = stream();
    await store.append(b, 0, [event(1)]);
    await expect(
      store.appendAll([
        { streamId: a, expectedVersion: 0, events: [event(1)] },
        { streamId: b, expectedVersion: 0, events: [event(2)] },
      ]),
    ).rejects.toBeInstanceOf(VersionConflictError);
    expect(await store.readStream(a)).toHaveLength(0);
  });

  test("the database refuses UPDATE, DELETE and TRUNCATE on events", async () => {
    const id = stream();
    await store.append(id, 0, [event(1)]);
    const db = testDb.database.db;
    await expect(
      sql`update events set data = '{}' where stream_id = ${id}`.execute(db),
    ).rejects.toThrow(/append-only/);
    await expect(sql`delete from events where stream_id = ${id}`.execute(db)).rejects.toThrow(
      /append-only/,
    );
    await expect(sql`truncate events`.execute(db)).rejects.toThrow(/append-only/);
    expect(await store.readStream(id)).toHaveLength(1);
  });

  test("announces each commit on the bus with its events", async () => {
    const id = stream();
    const signals: string[][] = [];
    const listener = (s: { streamIds: string[] }) => signals.push(s.streamIds);
    bus.on("commit", listener);
    await store.append(id, 0, [event(1)]);
    bus.off("commit", listener);
    expect(signals).toContainEqual([id]);
  });
});

describe("subscriptions", () => {
  test("catch up from the stored checkpoint after a restart, exactly once", async () => {
    const name = `catch-up-${randomUUID()}`;
    const id = stream();
    await store.append(id, 0, [event(1), event(2)]);
    const seen: RecordedEvent[] = [];
    const first = subscription(name, seen);
    first.start();
    await waitFor(() => seen.filter((e) => e.streamId === id).length === 2, { what: "first run" });
    await first.stop();

    await store.append(id, 2, [event(3)]);
    const again: RecordedEvent[] = [];
    const second = subscription(name, again);
    second.start();
    await waitFor(() => again.some((e) => e.streamId === id), { what: "catch-up" });
    await second.stop();
    expect(again.filter((e) => e.streamId === id).map((e) => e.data)).toEqual([{ n: 3 }]);
  });

  test("a failing handler is retried without losing its event or blocking others", async () => {
    const id = stream();
    let failures = 0;
    const handled: number[] = [];
    const flaky = new Subscription(testDb.database.db, store, bus, {
      name: `flaky-${randomUUID()}`,
      types: ["Counted"],
      pollMs: 50,
      log: silentLogger,
      handler: {
        concurrency: 4,
        async handle(e) {
          if (e.streamId !== id) return;
          if ((e.data as { n: number }).n === 1 && failures++ < 2) throw new Error("transient");
          handled.push((e.data as { n: number }).n);
        },
      },
    });
    const seen: RecordedEvent[] = [];
    const healthy = subscription(`healthy-${randomUUID()}`, seen);
    flaky.start();
    healthy.start();
    await store.append(id, 0, [event(1), event(2)]);
    await waitFor(() => seen.filter((e) => e.streamId === id).length === 2, { what: "healthy" });
    await waitFor(() => handled.length === 2, { what: "retried event" });
    await flaky.stop();
    await healthy.stop();
    expect(failures).toBe(3);
    expect(handled.sort()).toEqual([1, 2]);
  });

  test("two instances share one subscription: each event once, and the survivor takes over", async () => {
    const name = `shared-${randomUUID()}`;
    const id = stream();
    const seenA: RecordedEvent[] = [];
    const seenB: RecordedEvent[] = [];
    const a = subscription(name, seenA);
    const b = subscription(name, seenB);
    a.start();
    await waitFor(() => a.isOwner, { what: "a to own the lease" });
    b.start();
    let twentieth: RecordedEvent | undefined;
    for (let n = 1; n <= 20; n++) twentieth = (await store.append(id, n - 1, [event(n)])).events[0];
    const mine = (seen: RecordedEvent[]) => seen.filter((e) => e.streamId === id);
    await waitFor(() => mine(seenA).length + mine(seenB).length === 20, { what: "first 20" });
    // Own commits started ahead of the scan count as handled once the scan has confirmed them.
    await waitFor(() => twentieth && compareCheckpoints(a.position, checkpointOf(twentieth)) >= 0, {
      what: "a's checkpoint past the first 20",
    });

    await a.stop();
    for (let n = 21; n <= 30; n++) await store.append(id, n - 1, [event(n)]);
    await waitFor(() => mine(seenA).length + mine(seenB).length === 30, { what: "takeover" });
    await b.stop();

    const all = [...mine(seenA), ...mine(seenB)].map((e) => (e.data as { n: number }).n);
    expect(all.sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(mine(seenB).map((e) => (e.data as { n: number }).n)).toContain(30);
  });
});

describe.skipIf(!onPostgres)("subscriptions across connections (needs TEST_DATABASE_URL)", () => {
  test("a slow transaction that commits after a faster, later one is seen in order, once", async () => {
    const name = `late-${randomUUID()}`;
    const id = stream();
    const seen: RecordedEvent[] = [];
    // Fed by the scan alone, as in a process that made neither commit: a process starts its
    // own fresh commits before the scan reaches them, whatever the commit order.
    const sub = subscription(name, seen, new EventBus());
    sub.start();

    const slow = new pg.Client({ connectionString: testDb.url });
    await slow.connect();
    await slow.query("begin");
    await slow.query(
      `insert into events (event_id, stream_id, stream_version, type, data)
       values ($1, $2, 1, 'Counted', '{"n":1}')`,
      [randomUUID(), `${id}-slow`],
    );
    await store.append(id, 0, [event(2)]);
    // The fast event is committed, but subscribers must not see it before the older transaction.
    expect(await store.readStream(id)).toHaveLength(1);
    const visible = await store.readAll(sub.position, { limit: 1000, types: ["Counted"] });
    expect(visible.events.filter((e) => e.streamId.startsWith(id))).toHaveLength(0);

    await slow.query("commit");
    await slow.end();
    await waitFor(() => seen.filter((e) => e.streamId.startsWith(id)).length === 2, {
      what: "both events",
    });
    await sub.stop();
    const mine = seen
      .filter((e) => e.streamId.startsWith(id))
      .map((e) => (e.data as { n: number }).n);
    expect(mine).toEqual([1, 2]);
  });

  test("a kill -9'd owner's lease expires and another instance takes over", async () => {
    const name = `expire-${randomUUID()}`;
    const id = stream();
    // A lease left by an owner that vanished without releasing it.
    await sql`insert into subscriptions (name, owner, lease_expires_at)
              values (${name}, 'dead-owner', now() + interval '300 milliseconds')`.execute(
      testDb.database.db,
    );
    const seen: RecordedEvent[] = [];
    const survivor = subscription(name, seen);
    survivor.start();
    await store.append(id, 0, [event(1)]);
    await waitFor(() => seen.some((e) => e.streamId === id), { what: "takeover after expiry" });
    await survivor.stop();
  });
});

describe("a scanned event's freshness", () => {
  test("another process's commit within the owner's term is fresh; one from before it is not", async () => {
    const id = stream();
    const handled: { n: number; fresh: boolean }[] = [];
    await store.append(id, 0, [event(1)]);
    // Fed by the scan alone, as for commits made by another process.
    const sub = new Subscription(testDb.database.db, store, new EventBus(), {
      name: `fresh-${randomUUID()}`,
      types: ["Counted"],
      leaseMs: 600,
      pollMs: 50,
      log: silentLogger,
      handler: {
        concurrency: 4,
        async handle(e, context) {
          if (e.streamId === id)
            handled.push({ n: (e.data as { n: number }).n, fresh: context.fresh });
        },
      },
    });
    sub.start();
    try {
      await waitFor(() => handled.length === 1, { what: "the event from before the term" });
      await store.append(id, 1, [event(2)]);
      await waitFor(() => handled.length === 2, { what: "the event from within the term" });
      expect(handled).toEqual([
        { n: 1, fresh: false },
        { n: 2, fresh: true },
      ]);
    } finally {
      await sub.stop();
    }
  });
});
