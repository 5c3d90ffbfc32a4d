import { type ConflictRetries, onConflict, withRetries } from "./conflicts";
import { DecisionCache, type Folded, foldNext, foldRead } from "./decision-cache";
import { KeyedMutex } from "./keyed-mutex";
import type { EventStore } from "./store";
import type { Event, NewEvent, RecordedEvent, StreamWrite } from "./types";

/**
 * Appends `events` to the command's stream at the version the decision saw, and `alongside`
 * (writes to other streams) in the same commit: all or nothing.
 */
export type Append = (events: NewEvent[], alongside?: StreamWrite[]) => Promise<void>;

/** How a decision is written, and what the command answers. */
export type Decision<Result> = { result: Result } & (
  | {
      /** Appended to the command's stream at the version the decision saw. */
      events: NewEvent[];
      /** Writes to other streams, committed with those events: all or nothing. */
      alongside?: StreamWrite[];
    }
  | {
      /**
       * Writes the decision its own way, still in the stream's turn: work around one `append`
       * (what its transaction needs, undone when it fails), or a write not tied to the version
       * seen that never appends. A conflict it meets re-decides like an append's.
       */
      write(append: Append): Promise<unknown>;
    }
);

export interface Command<State, E extends Event, Result> {
  streamId: string;
  initialState: () => State;
  evolve: (state: State, event: RecordedEvent<E>) => State;
  /**
   * The rules look only this far back: older events are not folded (the stream's last event
   * always is, for its version), so a long stream decides as fast as a short one.
   */
  readWindowMs?: number;
  decide: (state: State) => Decision<Result>;
}

export interface CommandHandled<Result> {
  result: Result;
  /** The stream's version the decision saw, and wrote after. */
  version: number;
}

export interface CommandHandlerOptions extends ConflictRetries {
  /** Per-stream turns; by default the process's own, shared by every command. */
  turns?: KeyedMutex;
  /** The streams' folded states; by default the store's own, shared by every command. */
  cache?: DecisionCache;
}

/** This process's deciders of one stream take turns; other processes' collisions retry. */
const streamTurns = new KeyedMutex();
/** Each store's folded states: another store (another database, or a test's other process) has its own. */
const caches = new WeakMap<EventStore, DecisionCache>();

function cacheOf(store: EventStore): DecisionCache {
  let cache = caches.get(store);
  if (cache === undefined) {
    cache = new DecisionCache();
    caches.set(store, cache);
  }
  return cache;
}

/**
 * Loads the stream's state, decides, and appends at the version it saw; a version conflict
 * re-reads and re-decides (with backoff, a bounded number of times). The decision's own
 * errors and the append's other errors end it. The state folded last time is kept, so a
 * command reads only the events after it: its cost does not grow with the stream.
 */
export function handleCommand<State, E extends Event, Result>(
  store: EventStore,
  command: Command<State, E, Result>,
  options: CommandHandlerOptions = {},
): Promise<CommandHandled<Result>> {
  const turns = options.turns ?? streamTurns;
  const cache = options.cache ?? cacheOf(store);
  return turns.run(command.streamId, () =>
    withRetries(() => attempt(store, cache, command), onConflict(options)),
  );
}

async function attempt<State, E extends Event, Result>(
  store: EventStore,
  cache: DecisionCache,
  command: Command<State, E, Result>,
): Promise<CommandHandled<Result>> {
  const { streamId } = command;
  const since =
    command.readWindowMs === undefined
      ? Number.NEGATIVE_INFINITY
      : Date.now() - command.readWindowMs;
  const folded = await load(store, cache, command, since);
  const { version } = folded;
  const decision = command.decide(folded.state);
  let appended: RecordedEvent[] | undefined;
  const append: Append = async (events, alongside = []) => {
    ({ events: appended } = await store.appendAll([
      { streamId, expectedVersion: version, events },
      ...alongside,
    ]));
  };
  if ("write" in decision) await decision.write(append);
  else await append(decision.events, decision.alongside);
  if (appended) {
    // The append's own events, as committed, so the next command need not read them back.
    const mine = appended.filter((e) => e.streamId === streamId) as RecordedEvent<E>[];
    const after = foldNext(command, folded, mine, since);
    if (after) cache.set(streamId, command, after);
  }
  return { result: decision.result, version };
}

/**
 * The stream's state now: the kept one and the events after its version (one short indexed
 * read, which also sees every other writer's appends), or else a fresh read of the window.
 */
async function load<State, E extends Event>(
  store: EventStore,
  cache: DecisionCache,
  command: Command<State, E, unknown>,
  since: number,
): Promise<Folded<State>> {
  const { streamId } = command;
  const kept = cache.get(streamId, command);
  let folded: Folded<State> | undefined;
  if (kept) {
    const next = await store.readStream(streamId, { afterVersion: kept.version });
    folded = foldNext(command, kept, next as RecordedEvent<E>[], since);
  }
  if (folded === undefined) {
    const events = await store.readStream(streamId, {
      since: Number.isFinite(since) ? new Date(since) : undefined,
    });
    folded = foldRead(command, events as RecordedEvent<E>[], since);
  }
  // A kept state that no new event changed is already the newest entry (get moved it there).
  if (folded !== kept) cache.set(streamId, command, folded);
  return folded;
}
