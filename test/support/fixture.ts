/**
 * Fixtures: something a describe block (or a whole file) sets up before its tests and tears down
 * after them. Whatever is set up is torn down newest first, whatever the order of the hooks, so a
 * runtime closes before the fake provider it sends through stops.
 */
import { afterAll, beforeAll } from "bun:test";
import { type FakeMailgun, startFakeMailgun } from "./fake-mailgun";

interface Live {
  tearDown(): Promise<void>;
}

/** What is set up and not yet torn down, oldest first. */
const live: Live[] = [];

/**
 * Sets up with `setUp` in beforeAll of the calling block (describe or file) and tears down with
 * `tearDown` in its afterAll; the accessor reads what the hook made.
 */
export function useFixture<T>(
  what: string,
  setUp: () => Promise<T>,
  tearDown: (value: T) => Promise<void>,
): () => T {
  let current: { value: T } | undefined;
  const entry: Live = {
    async tearDown() {
      const held = current;
      current = undefined;
      if (held !== undefined) await tearDown(held.value);
    },
  };
  beforeAll(async () => {
    current = { value: await setUp() };
    live.push(entry);
  });
  afterAll(async () => {
    // This entry and whatever was set up after it (a later sibling's), newest first.
    const at = live.lastIndexOf(entry);
    if (at === -1) return;
    const failures: unknown[] = [];
    for (const later of live.splice(at).reverse()) {
      await later.tearDown().catch((error: unknown) => failures.push(error));
    }
    if (failures.length > 0) throw failures[0];
  });
  return () => {
    if (current === undefined) throw new Error(`${what} is set up only for its block's tests`);
    return current.value;
  };
}

/**
 * An object standing for the one `get` returns when used: each property is read from it then
 * (methods bound to it), so tests hold a fixture's value as a plain const from the start.
 */
export function standIn<T extends object>(get: () => T): T {
  return new Proxy({} as T, {
    get(_, key) {
      const target = get();
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
    set: (_, key, value) => Reflect.set(get(), key, value),
    has: (_, key) => Reflect.has(get(), key),
  });
}

/** The calling block's fake Mailgun: started before its tests, stopped after them. */
export function useFakeMailgun(): FakeMailgun {
  return standIn(
    useFixture(
      "the fake Mailgun",
      () => startFakeMailgun(),
      (fake) => fake.stop(),
    ),
  );
}
