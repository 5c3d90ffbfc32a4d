/**
 * The command handler keeps each stream's folded state and reads only what came after it: its
 * decisions are the ones a fresh read of the window gives, whatever other processes append,
 * across conflicts and as events leave the window. The windowed read itself stops near the end.
 */
import { afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import {
  type Command,
  type CommandHandlerOptions,
  EventBus,
  EventStore,
  handleCommand,
  type RecordedEvent,
} from "../../src/event-store";
import { DecisionCache } from "../../src/event-store/decision-cache";
import { createTestDatabase, useTestDatabase } from "../support/database";

const HOUR = 3_600_000;
const MIN = 60_000;

/** The real store, keeping how many events each of its stream reads returned. */
class ReadCountingStore extends EventStore {
  reads: number[] = [];

  override async readStream(...args: Parameters<EventStore["readStream"]>) {
    const events = await super.readStream(...args);
    this.reads.push(events.length);
    return events;
  }
}

const testDb = useTestDatabase();
/** This process's store, and another process's on the same database. */
let store: ReadCountingStore;
let other: EventStore;

beforeAll(() => {
  store = new ReadCountingStore(testDb.database.db, new EventBus());
  other = new EventStore(testDb.database.db, new EventBus());
});
afterEach(() => {
  setSystemTime();
});

const stream = () => `kept-${randomUUID()}`;
type Counted = { type: "Counted"; data: { n: number } };
const counted = (n: number) => ({ type: "Counted", data: { n } });
const noWait = async () => {};

// One fold for every command, as a feature's commands share theirs: the kept state is reused.
const initialState = (): number[] => [];
const evolve = (seen: number[], event: RecordedEvent<Counted>) => [...seen, event.data.n];

/**
 * Appends the next number after the ones it saw in the last hour (`before` runs right before the
 * append); `decided` holds what it saw.
 */
function next(
  streamId: string,
  before?: () => Promise<void>,
): Command<number[], Counted, number> & { decided: number[][] } {
  const decided: number[][] = [];
  return {
    streamId,
    decided,
    initialState,
    evolve,
    readWindowMs: HOUR,
    decide(seen) {
      decided.push(seen);
      const n = (seen.at(-1) ?? 0) + 1;
      if (before === undefined) return { result: n, events: [counted(n)] };
      return {
        result: n,
        async write(append) {
          await before();
          await append([counted(n)]);
        },
      };
    },
  };
}

/** What a fresh read of the window decides on now (nothing kept, nothing written). */
async function freshly(streamId: string): Promise<{ seen: number[]; version: number }> {
  let seen: number[] = [];
  const { version } = await handleCommand(
    store,
    {
      streamId,
      initialState,
      evolve,
      readWindowMs: HOUR,
      decide: (state) => {
        seen = state;
        return { result: undefined, write: async () => {} };
      },
    },
    { cache: new DecisionCache(0, 0) },
  );
  return { seen, version };
}

/** Decides with the kept state, and checks it saw exactly what a fresh read sees. */
async function decideAndCompare(streamId: string, options: CommandHandlerOptions = {}) {
  const expected = await freshly(streamId);
  const command = next(streamId);
  const handled = await handleCommand(store, command, options);
  expect({ seen: command.decided.at(-1), version: handled.version }).toEqual(expected);
  return handled;
}

/** Events another writer put in the log `minutesAgo`, as the append-only table allows. */
async function appendRecordedAgo(streamId: string, minutesAgo: number, ns: number[]) {
  const version = await store.streamVersion(streamId);
  for (const [i, n] of ns.entries()) {
    await sql`
      insert into events (event_id, stream_id, stream_version, type, data, recorded_at)
      values (${randomUUID()}::uuid, ${streamId}, ${version + i + 1}, 'Counted',
              ${JSON.stringify({ n })}::jsonb, now() - ${`${minutesAgo} minutes`}::interval)`.execute(
      testDb.database.db,
    );
  }
}

const readsDuring = async (run: () => Promise<unknown>) => {
  const from = store.reads.length;
  await run();
  return store.reads.slice(from);
};

describe("the state kept between commands", () => {
  test("a command reads only the events after the state it kept: none after its own append", async () => {
    const id = stream();
    await other.append(id, 0, [counted(1), counted(2), counted(3)]);
    const reads = await readsDuring(async () => {
      for (let i = 0; i < 5; i++) await handleCommand(store, next(id));
    });
    expect(reads).toEqual([3, 0, 0, 0, 0]);
    const command = next(id);
    const more = await readsDuring(async () => {
      await other.append(id, 8, [counted(9), counted(10)]);
      await handleCommand(store, command);
    });
    expect(more).toEqual([2]);
    expect(command.decided).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
  });

  test("another process's appends, through its own commands or not: the same decisions as a fresh read", async () => {
    const id = stream();
    for (let round = 0; round < 6; round++) {
      await decideAndCompare(id);
      if (round % 2 === 0) await handleCommand(other, next(id));
      else await other.append(id, "any", [counted(100 + round)]);
      await decideAndCompare(id);
    }
    expect((await freshly(id)).version).toBe(18);
  });

  test("a conflict: the retry reads the other process's event and decides as a fresh read would", async () => {
    const id = stream();
    await decideAndCompare(id);
    let raced = false;
    const command = next(id, async () => {
      if (raced) return;
      raced = true;
      await other.append(id, 1, [counted(50)]);
    });
    const reads = await readsDuring(() => handleCommand(store, command, { sleep: noWait }));
    expect(command.decided).toEqual([[1], [1, 50]]);
    expect(reads).toEqual([0, 1]);
    await decideAndCompare(id);
    expect((await freshly(id)).seen).toEqual([1, 50, 51, 52]);
  });

  test("events leaving the window: the kept state is not used past them", async () => {
    const id = stream();
    await appendRecordedAgo(id, 50, [1, 2]);
    await appendRecordedAgo(id, 20, [3]);
    await decideAndCompare(id);
    const start = Date.now();
    // Ten minutes on, the first two are out of the window, the third still in.
    setSystemTime(new Date(start + 15 * MIN));
    await decideAndCompare(id);
    expect((await freshly(id)).seen).toEqual([3, 4, 5]);
    // Past the hour of all of them but the last, which stays for its version.
    setSystemTime(new Date(start + 2 * HOUR));
    const { seen } = await freshly(id);
    expect(seen).toEqual([5]);
    await decideAndCompare(id);
    await decideAndCompare(id);
    // The new ones are in the window or not as the database's clock has it (PGlite's follows
    // the mocked one); either way the old last one is gone.
    const after = (await freshly(id)).seen;
    expect(after.at(-1)).toBe(7);
    expect(after).not.toContain(5);
  });

  test("a stream's only event older than the window: decided on, then dropped once followed", async () => {
    const id = stream();
    await appendRecordedAgo(id, 120, [1]);
    await decideAndCompare(id);
    await decideAndCompare(id);
    expect((await freshly(id)).seen).toEqual([2, 3]);
  });

  test("a store's kept states are its own: another store on another database starts afresh", async () => {
    const elsewhere = await createTestDatabase();
    try {
      const id = stream();
      await handleCommand(store, next(id));
      const away = new EventStore(elsewhere.database.db, new EventBus());
      const command = next(id);
      expect(await handleCommand(away, command)).toEqual({ result: 1, version: 0 });
      expect(command.decided).toEqual([[]]);
    } finally {
      await elsewhere.drop();
    }
  });
});

describe("reading a stream's last hour", () => {
  test("long history before the window: only the window and the last event come back", async () => {
    const id = stream();
    await appendRecordedAgo(
      id,
      180,
      Array.from({ length: 150 }, (_, i) => i + 1),
    );
    const since = new Date(Date.now() - HOUR);
    expect((await store.readStream(id, { since })).map((e) => e.data.n)).toEqual([150]);
    await appendRecordedAgo(
      id,
      30,
      Array.from({ length: 140 }, (_, i) => 151 + i),
    );
    const window = await store.readStream(id, { since });
    expect(window.map((e) => e.streamVersion)).toEqual(
      Array.from({ length: 140 }, (_, i) => 151 + i),
    );
    expect((await store.readStream(id, { since, afterVersion: 280 })).length).toBe(10);
    expect(await store.readStream(id, { since, afterVersion: 290 })).toEqual([]);
  });
});
