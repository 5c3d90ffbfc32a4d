/**
 * The command handler against the real store: load, decide, append at the version seen; a
 * conflict re-reads and re-decides, within a bound; one process's deciders of a stream take turns.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import {
  appendPatiently,
  type Command,
  type CommandHandlerOptions,
  EventBus,
  EventStore,
  handleCommand,
  KeyedMutex,
  type RecordedEvent,
  type StreamWrite,
  VersionConflictError,
} from "../../src/event-store";
import { silentLogger } from "../../src/log";
import { useTestDatabase } from "../support/database";

/** The real store, counting the version conflicts its appends answer. */
class CountingStore extends EventStore {
  conflicts = 0;

  override async appendAll(writes: StreamWrite[]) {
    try {
      return await super.appendAll(writes);
    } catch (error) {
      if (error instanceof VersionConflictError) this.conflicts++;
      throw error;
    }
  }
}

const testDb = useTestDatabase();
let store: CountingStore;

beforeAll(() => {
  store = new CountingStore(testDb.database.db, new EventBus());
});

const stream = () => `command-${randomUUID()}`;
type Counted = { type: "Counted"; data: { n: number } };
const counted = (n: number) => ({ type: "Counted", data: { n } });
const noWait = async () => {};

/** Work a decision does around its append: before it, and an undo when it fails. */
type Around = { before?: () => Promise<void>; undo?: () => void };
/** What a promise rejected with (awaited here: a pending promise under `rejects` is slow). */
const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: unknown) => error,
  );

/** A counter: each command appends the next number after the ones it has seen. */
function next(
  streamId: string,
  around: Around = {},
): Command<number[], Counted, number> & { decided: number[][] } {
  const decided: number[][] = [];
  return {
    streamId,
    decided,
    initialState: () => [],
    evolve: (seen, event: RecordedEvent<Counted>) => [...seen, event.data.n],
    decide(seen) {
      decided.push(seen);
      const n = seen.length + 1;
      if (around.before === undefined && around.undo === undefined) {
        return { result: n, events: [counted(n)] };
      }
      return {
        result: n,
        async write(append) {
          try {
            await around.before?.();
            await append([counted(n)]);
          } catch (error) {
            around.undo?.();
            throw error;
          }
        },
      };
    },
  };
}

const numbers = async (streamId: string) =>
  (await store.readStream(streamId)).map((e) => [e.streamVersion, e.data.n]);

describe("handleCommand", () => {
  test("appends the decision at the version it saw and answers its result", async () => {
    const id = stream();
    await store.append(id, 0, [counted(1)]);
    const handled = await handleCommand(store, next(id));
    expect(handled).toEqual({ result: 2, version: 1 });
    expect(await numbers(id)).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  test("a concurrent write makes the append conflict: it re-reads and re-decides on it", async () => {
    const id = stream();
    const before = store.conflicts;
    let raced = false;
    let failures = 0;
    const command = next(id, {
      // Another writer takes the version between this decision's read and its append, once.
      async before() {
        if (raced) return;
        raced = true;
        await store.append(id, 0, [counted(100)]);
      },
      undo: () => failures++,
    });
    const handled = await handleCommand(store, command, { sleep: noWait });
    expect(store.conflicts - before).toBe(1);
    expect(failures).toBe(1);
    expect(command.decided).toEqual([[], [100]]);
    expect(handled).toEqual({ result: 2, version: 1 });
    expect(await numbers(id)).toEqual([
      [1, 100],
      [2, 2],
    ]);
  });

  test("a stream that always conflicts: gives up after the bound with VersionConflictError", async () => {
    const id = stream();
    const backoffs: number[] = [];
    const command = next(id, {
      // A writer that always wins the race.
      before: async () => void (await store.append(id, "any", [counted(0)])),
    });
    const options: CommandHandlerOptions = {
      maxAttempts: 4,
      backoff: (attempt) => {
        backoffs.push(attempt);
        return 0;
      },
    };
    expect(await failureOf(handleCommand(store, command, options))).toBeInstanceOf(
      VersionConflictError,
    );
    expect(command.decided).toHaveLength(4);
    expect(backoffs).toEqual([1, 2, 3]);
    expect((await numbers(id)).map(([, n]) => n)).toEqual([0, 0, 0, 0]);
  });

  test("errors other than conflicts end it at once, and the decision's undo runs", async () => {
    const id = stream();
    let undone = 0;
    const command = next(id, {
      before: async () => {
        throw new Error("side work failed");
      },
      undo: () => undone++,
    });
    expect(await failureOf(handleCommand(store, command, { sleep: noWait }))).toEqual(
      new Error("side work failed"),
    );
    expect(command.decided).toHaveLength(1);
    expect(undone).toBe(1);
    expect(await numbers(id)).toEqual([]);
  });

  test("many concurrent commands on one stream take turns: all land, and no conflict reaches the store", async () => {
    const id = stream();
    const before = store.conflicts;
    const commands = Array.from({ length: 40 }, () => next(id));
    const handled = await Promise.all(commands.map((c) => handleCommand(store, c)));
    expect(store.conflicts - before).toBe(0);
    expect(handled.map((h) => h.version).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    );
    expect(await numbers(id)).toEqual(Array.from({ length: 40 }, (_, i) => [i + 1, i + 1]));
    expect(commands.every((c) => c.decided.length === 1)).toBe(true);
  });

  test("without shared turns the same commands collide at the store (what the turns prevent)", async () => {
    const id = stream();
    const before = store.conflicts;
    const commands = Array.from({ length: 10 }, () => next(id));
    await Promise.all(
      commands.map((c) => handleCommand(store, c, { turns: new KeyedMutex(), sleep: noWait })),
    );
    expect(store.conflicts - before).toBeGreaterThan(0);
    expect(await numbers(id)).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, i + 1]));
  });

  test("a decision on several streams is all or nothing", async () => {
    const main = stream();
    const other = stream();
    await store.append(other, 0, [counted(1)]);
    const writing = (expectedVersion: number): Command<number[], Counted, string> => ({
      ...next(main),
      decide: () => ({
        result: "both",
        events: [counted(1)],
        alongside: [{ streamId: other, expectedVersion, events: [counted(2)] }],
      }),
    });

    // The other stream is not where the decision expects it: nothing is written anywhere.
    expect(
      await failureOf(handleCommand(store, writing(0), { maxAttempts: 2, sleep: noWait })),
    ).toBeInstanceOf(VersionConflictError);
    expect(await numbers(main)).toEqual([]);
    expect(await numbers(other)).toEqual([[1, 1]]);

    await handleCommand(store, writing(1));
    const written = [...(await store.readStream(main)), ...(await store.readStream(other))];
    expect(written.map((e) => [e.streamId, e.streamVersion])).toEqual([
      [main, 1],
      [other, 1],
      [other, 2],
    ]);
    expect(written[0]?.transactionId).toBe(written[2]?.transactionId);
  });

  test("a decision recorded its own way appends nothing at the version seen, within the turn", async () => {
    const id = stream();
    const aside = stream();
    const order: string[] = [];
    const recording = handleCommand(store, {
      ...next(id),
      decide: () => ({
        result: "counted",
        write: async () => {
          await store.append(aside, "any", [counted(1)]);
          order.push("recorded");
        },
      }),
    });
    const after = handleCommand(store, next(id, { before: async () => void order.push("next") }));
    expect(await recording).toEqual({ result: "counted", version: 0 });
    expect(await after).toEqual({ result: 1, version: 0 });
    expect(order).toEqual(["recorded", "next"]);
    expect(await numbers(aside)).toEqual([[1, 1]]);
  });
});

describe("appendPatiently (the same retry core)", () => {
  test("retries an append that cannot land until its patience runs out", async () => {
    const id = stream();
    const eventId = randomUUID();
    // The event id is already in another stream: every attempt conflicts.
    await store.append(stream(), 0, [{ ...counted(1), eventId }]);
    let clock = 0;
    const patient = appendPatiently(store, id, [{ ...counted(1), eventId }], {
      log: silentLogger,
      patienceMs: 3,
      now: () => clock++,
    });
    expect(await failureOf(patient)).toBeInstanceOf(VersionConflictError);
    // One reading of the clock sets the deadline (3), then one after each of the 4 attempts.
    expect(clock).toBe(5);
    expect(await numbers(id)).toEqual([]);
  });

  test("lands at the stream's end, wherever that is", async () => {
    const id = stream();
    await store.append(id, 0, [counted(1)]);
    await appendPatiently(store, id, [counted(2)], { log: silentLogger });
    expect(await numbers(id)).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });
});
