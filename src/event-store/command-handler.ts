import { type ConflictRetries, onConflict, withRetries } from "./conflicts";
import { KeyedMutex } from "./keyed-mutex";
import type { EventStore } from "./store";
import type { Event, NewEvent, RecordedEvent, StreamWrite } from "./types";

/** How a decision is written, and what the command answers. */
export type Decision<Result> = { result: Result } & (
  | {
      /** Appended to the command's stream at the version the decision saw. */
      events: NewEvent[];
      /** Writes to other streams, committed with those events: all or nothing. */
      alongside?: StreamWrite[];
      /** Side work the append needs, done right before it (a key for its transaction). */
      beforeAppend?(): void | Promise<void>;
      /** Undoes beforeAppend when the append fails, conflict or not. */
      onFailure?(): void;
    }
  | {
      /**
       * A decision not tied to the version it saw (a refusal that is only counted), written its
       * own way, still in the stream's turn; a conflict it meets re-decides like an append's.
       */
      record(): Promise<unknown>;
    }
);

export interface Command<State, E extends Event, Result> {
  streamId: string;
  initialState: () => State;
  evolve: (state: State, event: RecordedEvent<E>) => State;
  /**
   * The rules look only this far back: older events are not read (the stream's last event
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
}

/** This process's deciders of one stream take turns; other processes' collisions retry. */
const streamTurns = new KeyedMutex();

/**
 * Loads the stream's state, decides, and appends at the version it saw; a version conflict
 * re-reads and re-decides (with backoff, a bounded number of times). The decision's own
 * errors and the append's other errors end it.
 */
export function handleCommand<State, E extends Event, Result>(
  store: EventStore,
  command: Command<State, E, Result>,
  options: CommandHandlerOptions = {},
): Promise<CommandHandled<Result>> {
  const turns = options.turns ?? streamTurns;
  return turns.run(command.streamId, () =>
    withRetries(() => attempt(store, command), onConflict(options)),
  );
}

async function attempt<State, E extends Event, Result>(
  store: EventStore,
  command: Command<State, E, Result>,
): Promise<CommandHandled<Result>> {
  const { streamId, readWindowMs } = command;
  const since = readWindowMs === undefined ? undefined : new Date(Date.now() - readWindowMs);
  const events = (await store.readStream(streamId, { since })) as RecordedEvent<E>[];
  const state = events.reduce(command.evolve, command.initialState());
  const version = events.at(-1)?.streamVersion ?? 0;
  const decision = command.decide(state);
  if ("record" in decision) {
    await decision.record();
    return { result: decision.result, version };
  }
  try {
    await decision.beforeAppend?.();
    await store.appendAll([
      { streamId, expectedVersion: version, events: decision.events },
      ...(decision.alongside ?? []),
    ]);
  } catch (error) {
    decision.onFailure?.();
    throw error;
  }
  return { result: decision.result, version };
}
