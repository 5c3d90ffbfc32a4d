/**
 * The one retry loop: the bound, the failures worth another attempt, the deadline a wait may
 * not reach, and the waits themselves, on a clock that only the sleep moves.
 */
import { describe, expect, test } from "bun:test";
import { doubling, jittered, type RetryPolicy, retry } from "../../src/retry";

/** An attempt that fails `failures` times, then answers its number. */
function flaky(failures: number, error: (n: number) => unknown = (n) => new Error(`fail ${n}`)) {
  const tried: number[] = [];
  const attempt = async (n: number) => {
    tried.push(n);
    if (n <= failures) throw error(n);
    return n;
  };
  return { attempt, tried };
}

function clocked(start = 1_000) {
  let clock = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => clock,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock += ms;
    },
  };
}

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: unknown) => error,
  );

describe("retry", () => {
  test("tries again after each failure until an attempt succeeds, waiting the backoff between", async () => {
    const { attempt, tried } = flaky(3);
    const time = clocked();
    const policy: RetryPolicy = { backoff: doubling(10, 25), ...time };
    expect(await retry(attempt, policy)).toBe(4);
    expect(tried).toEqual([1, 2, 3, 4]);
    expect(time.sleeps).toEqual([10, 20, 25]);
  });

  test("gives up after maxAttempts with the last failure", async () => {
    const { attempt, tried } = flaky(10);
    const time = clocked();
    const failure = await failureOf(retry(attempt, { maxAttempts: 3, backoff: () => 1, ...time }));
    expect(failure).toEqual(new Error("fail 3"));
    expect(tried).toEqual([1, 2, 3]);
    expect(time.sleeps).toEqual([1, 1]);
  });

  test("a failure it does not retry ends it at once", async () => {
    const { attempt, tried } = flaky(10, (n) => (n === 2 ? new TypeError("fatal") : new Error()));
    const retries = (error: unknown) => !(error instanceof TypeError);
    const failure = await failureOf(retry(attempt, { retries, ...clocked() }));
    expect(failure).toBeInstanceOf(TypeError);
    expect(tried).toEqual([1, 2]);
  });

  test("a wait that would reach the deadline is not begun; onRetry hears only the retried failures", async () => {
    const { attempt, tried } = flaky(10);
    const time = clocked(0);
    const heard: number[] = [];
    const failure = await failureOf(
      retry(attempt, {
        deadline: 100,
        backoff: () => 40,
        onRetry: (_error, n) => heard.push(n),
        ...time,
      }),
    );
    // Waits end at 40 and 80; one more would end at 120, past the deadline.
    expect(failure).toEqual(new Error("fail 3"));
    expect(tried).toEqual([1, 2, 3]);
    expect(time.sleeps).toEqual([40, 40]);
    expect(heard).toEqual([1, 2]);
  });

  test("a zero wait goes again at once, without sleeping", async () => {
    const { attempt } = flaky(2);
    const time = clocked();
    expect(await retry(attempt, { backoff: () => 0, ...time })).toBe(3);
    expect(time.sleeps).toEqual([]);
  });

  test("the backoff sees the failure it follows", async () => {
    const { attempt } = flaky(2, (n) => ({ waitMs: n * 7 }));
    const time = clocked();
    const backoff = (_n: number, error: unknown) => (error as { waitMs: number }).waitMs;
    await retry(attempt, { backoff, ...time });
    expect(time.sleeps).toEqual([7, 14]);
  });
});

describe("backoffs", () => {
  test("doubling starts at its first wait and stops at its ceiling", () => {
    const wait = doubling(200, 30_000);
    expect([1, 2, 3, 8, 9, 50, 2000].map(wait)).toEqual([
      200, 400, 800, 25_600, 30_000, 30_000, 30_000,
    ]);
  });

  test("jitter takes a random part of the wait", () => {
    const wait = jittered(
      (n) => n * 10,
      () => 0.25,
    );
    expect([1, 4].map(wait)).toEqual([2.5, 10]);
  });
});
