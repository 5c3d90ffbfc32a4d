import type { Event, RecordedEvent } from "./types";

/** How a command folds a stream: the same three always give the same state from the same events. */
export interface Fold<State, E extends Event> {
  initialState: () => State;
  evolve: (state: State, event: RecordedEvent<E>) => State;
  readWindowMs?: number;
}

/**
 * A stream's state as folded from the events a fresh windowed read returns (those recorded
 * from the window's start on, plus the stream's last one, kept for its version).
 */
export interface Folded<State> {
  state: State;
  version: number;
  /** The window's start of the read it began with: an earlier start would need events not folded. */
  since: number;
  /** The oldest time among the folded events but the last; Infinity when there is none. */
  oldest: number;
  /** The last folded event's time (it may be older than the window); Infinity for an empty stream. */
  lastAt: number;
  /** How many events were folded: the entry's weight against the cache's bound. */
  weight: number;
}

interface Entry {
  fold: Fold<unknown, Event>;
  folded: Folded<unknown>;
}

/** Folds a fresh read of the stream (what readStream with the window's start returns). */
export function foldRead<State, E extends Event>(
  fold: Fold<State, E>,
  events: RecordedEvent<E>[],
  since: number,
): Folded<State> {
  return {
    state: events.reduce(fold.evolve, fold.initialState()),
    version: events.at(-1)?.streamVersion ?? 0,
    since,
    oldest: earliest(events.slice(0, -1)),
    lastAt: events.at(-1)?.recordedAt.getTime() ?? Number.POSITIVE_INFINITY,
    weight: events.length,
  };
}

/**
 * The state after the stream's next events, exactly as a fresh read at `since` would fold it;
 * undefined when it cannot be: an event folded before has left the window (a fold cannot
 * take it back), the window starts earlier than the first read's, or the events do not follow.
 */
export function foldNext<State, E extends Event>(
  fold: Fold<State, E>,
  folded: Folded<State>,
  next: RecordedEvent<E>[],
  since: number,
): Folded<State> | undefined {
  if (since < folded.since) return undefined;
  const last = next.at(-1);
  if (last === undefined) return folded.oldest >= since ? folded : undefined;
  if (next.some((e, i) => e.streamVersion !== folded.version + i + 1)) return undefined;
  // The folded last one is no longer the stream's last: it stays only if it is in the window.
  const oldest = Math.min(folded.oldest, folded.lastAt, earliest(next.slice(0, -1)));
  if (oldest < since) return undefined;
  return {
    state: next.reduce(fold.evolve, folded.state),
    version: last.streamVersion,
    since: folded.since,
    oldest,
    lastAt: last.recordedAt.getTime(),
    weight: folded.weight + next.length,
  };
}

/**
 * The folded states of the streams this process decided on lately, least recently used first
 * out: at most `maxStreams` of them, holding at most `maxWeight` folded events in all (a
 * stream heavier than that alone is not kept). The defaults hold a reset state of 250,000
 * events in about 30 MB.
 */
export class DecisionCache {
  private readonly entries = new Map<string, Entry>();
  private weight = 0;

  constructor(
    readonly maxStreams = 10_000,
    readonly maxWeight = 250_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The stream's folded state, if it was folded the same way. */
  get<State, E extends Event>(streamId: string, fold: Fold<State, E>): Folded<State> | undefined {
    const entry = this.entries.get(streamId);
    if (entry === undefined) return undefined;
    if (!sameFold(entry.fold, fold)) return undefined;
    this.entries.delete(streamId);
    this.entries.set(streamId, entry);
    return entry.folded as Folded<State>;
  }

  set<State, E extends Event>(streamId: string, fold: Fold<State, E>, folded: Folded<State>): void {
    this.delete(streamId);
    if (folded.weight > this.maxWeight) return;
    // The fold's functions only: the command that brought them (and what it holds) is not kept.
    const { initialState, evolve, readWindowMs } = fold as unknown as Fold<unknown, Event>;
    this.entries.set(streamId, {
      fold: { initialState, evolve, readWindowMs },
      folded: folded as Folded<unknown>,
    });
    this.weight += folded.weight;
    for (const [id] of this.entries) {
      if (this.entries.size <= this.maxStreams && this.weight <= this.maxWeight) break;
      this.delete(id);
    }
  }

  delete(streamId: string): void {
    const entry = this.entries.get(streamId);
    if (entry === undefined) return;
    this.entries.delete(streamId);
    this.weight -= entry.folded.weight;
  }
}

function earliest(events: RecordedEvent[]): number {
  let at = Number.POSITIVE_INFINITY;
  for (const e of events) at = Math.min(at, e.recordedAt.getTime());
  return at;
}

type AnyFold = { evolve: unknown; initialState: unknown; readWindowMs?: number };

const sameFold = (a: AnyFold, b: AnyFold) =>
  a.evolve === b.evolve && a.initialState === b.initialState && a.readWindowMs === b.readWindowMs;
