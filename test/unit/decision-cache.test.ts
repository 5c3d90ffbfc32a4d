/**
 * A kept state advanced by the stream's next events equals a fresh fold of the window's read,
 * or is refused when it cannot (an event it folded has left the window); the cache is bounded.
 */
import { describe, expect, test } from "bun:test";
import {
  DecisionCache,
  type Fold,
  type Folded,
  foldNext,
  foldRead,
} from "../../src/event-store/decision-cache";
import type { RecordedEvent } from "../../src/event-store/types";

type Seen = { type: "Seen"; data: { n: number } };
const MIN = 60_000;
const T0 = Date.parse("2026-12-01T10:00:00Z");

/** Event n of the stream (its version), recorded at T0 + `at` minutes. */
const event = (n: number, at: number): RecordedEvent<Seen> => ({
  type: "Seen",
  data: { n },
  eventId: `e-${n}`,
  streamId: "s",
  streamVersion: n,
  globalPosition: n,
  transactionId: String(n),
  metadata: {},
  recordedAt: new Date(T0 + at * MIN),
});

const fold: Fold<number[], Seen> = {
  initialState: () => [],
  evolve: (seen, e) => [...seen, e.data.n],
  readWindowMs: 60 * MIN,
};

/** What a fresh read at `since` returns: the window's events and the stream's last one. */
const freshRead = (stream: RecordedEvent<Seen>[], since: number) =>
  stream.filter((e, i) => i === stream.length - 1 || e.recordedAt.getTime() >= since);

const fresh = (stream: RecordedEvent<Seen>[], since: number) =>
  foldRead(fold, freshRead(stream, since), since);

/** The kept state's decision-relevant part: what it folded, at which version. */
const seen = (f: Folded<number[]> | undefined) => f && { state: f.state, version: f.version };

const at = (minutes: number) => T0 + minutes * MIN;

describe("foldNext", () => {
  test("new events in the window: the same state as a fresh fold of the whole window", () => {
    const stream = [event(1, 0), event(2, 5), event(3, 10)];
    const kept = fresh(stream.slice(0, 1), at(1) - 60 * MIN);
    const since = at(11) - 60 * MIN;
    const next = foldNext(fold, kept, stream.slice(1), since);
    expect(seen(next)).toEqual(seen(fresh(stream, since)));
    expect(seen(next)).toEqual({ state: [1, 2, 3], version: 3 });
  });

  test("no new event and nothing aged: the kept state as it is", () => {
    const kept = fresh([event(1, 0), event(2, 5)], at(6) - 60 * MIN);
    expect(foldNext(fold, kept, [], at(30) - 60 * MIN)).toBe(kept);
  });

  test("an event folded before has left the window: refused (a fold cannot take it back)", () => {
    const stream = [event(1, 0), event(2, 30)];
    const kept = fresh(stream, at(31) - 60 * MIN);
    const since = at(61) - 60 * MIN;
    expect(foldNext(fold, kept, [], since)).toBeUndefined();
    // What a fresh read folds instead: only the event still in the window.
    expect(fresh(stream, since).state).toEqual([2]);
  });

  test("the last event is kept however old; once another follows it, it must be in the window", () => {
    const old = [event(1, 0)];
    const since = at(90) - 60 * MIN;
    const kept = fresh(old, since);
    expect(kept.state).toEqual([1]);
    // Still the last: the kept state stands.
    expect(foldNext(fold, kept, [], at(100) - 60 * MIN)).toBe(kept);
    // Followed by a new one: a fresh fold drops it, so the kept state cannot be advanced.
    const stream = [...old, event(2, 100)];
    expect(foldNext(fold, kept, stream.slice(1), at(100) - 60 * MIN)).toBeUndefined();
    expect(fresh(stream, at(100) - 60 * MIN).state).toEqual([2]);
  });

  test("a window starting earlier than the first read's: refused (it left events out)", () => {
    const kept = fresh([event(1, 0), event(2, 50)], at(70) - 60 * MIN);
    expect(kept.state).toEqual([2]);
    expect(foldNext(fold, kept, [], at(65) - 60 * MIN)).toBeUndefined();
  });

  test("events that do not follow the kept version: refused", () => {
    const kept = fresh([event(1, 0)], at(1) - 60 * MIN);
    expect(foldNext(fold, kept, [event(3, 2)], at(2) - 60 * MIN)).toBeUndefined();
    expect(foldNext(fold, kept, [event(1, 0)], at(2) - 60 * MIN)).toBeUndefined();
  });

  test("step by step over time, every advance agrees with a fresh fold or is refused", () => {
    // Events every 7 minutes for three hours, the state kept as long as it can be.
    const stream = Array.from({ length: 26 }, (_, i) => event(i + 1, i * 7));
    let kept: Folded<number[]> | undefined;
    let refused = 0;
    for (let i = 1; i <= stream.length; i++) {
      const now = at((i - 1) * 7 + 3);
      const since = now - 60 * MIN;
      const upTo = stream.slice(0, i);
      const next = kept && foldNext(fold, kept, upTo.slice(kept.version), since);
      if (kept && next === undefined) refused++;
      kept = next ?? fresh(upTo, since);
      expect(seen(kept)).toEqual(seen(fresh(upTo, since)));
    }
    // Past the first hour an event leaves the window at every step.
    expect(refused).toBeGreaterThan(0);
  });
});

describe("DecisionCache", () => {
  const folded = (weight: number): Folded<number[]> => ({
    state: [],
    version: weight,
    since: 0,
    oldest: Number.POSITIVE_INFINITY,
    lastAt: 0,
    weight,
  });

  test("keeps at most maxStreams, the least recently used leaving first", () => {
    const cache = new DecisionCache(2, 100);
    cache.set("a", fold, folded(1));
    cache.set("b", fold, folded(1));
    cache.get("a", fold);
    cache.set("c", fold, folded(1));
    expect(cache.size).toBe(2);
    expect(cache.get("b", fold)).toBeUndefined();
    expect(cache.get("a", fold)?.version).toBe(1);
    expect(cache.get("c", fold)?.version).toBe(1);
  });

  test("keeps at most maxWeight folded events in all; a heavier stream alone is not kept", () => {
    const cache = new DecisionCache(10, 10);
    cache.set("a", fold, folded(6));
    cache.set("b", fold, folded(4));
    cache.set("c", fold, folded(3));
    expect(cache.get("a", fold)).toBeUndefined();
    expect(cache.get("b", fold)?.weight).toBe(4);
    cache.set("huge", fold, folded(11));
    expect(cache.get("huge", fold)).toBeUndefined();
    expect(cache.size).toBe(2);
    // Replacing an entry counts its new weight only.
    cache.set("b", fold, folded(7));
    expect(cache.get("c", fold)?.weight).toBe(3);
    expect(cache.get("b", fold)?.weight).toBe(7);
  });

  test("a state folded another way is not handed out", () => {
    const cache = new DecisionCache();
    cache.set("a", fold, folded(1));
    expect(cache.get("a", { ...fold, readWindowMs: 30 * MIN })).toBeUndefined();
    expect(cache.get("a", { ...fold, evolve: (s: number[]) => s })).toBeUndefined();
    expect(cache.get("a", { ...fold })?.version).toBe(1);
  });
});
