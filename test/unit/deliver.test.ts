import { describe, expect, test } from "bun:test";
import { deliverWithRetry } from "../../src/mail/deliver";
import {
  type Mailer,
  type MailMessage,
  parseRetryAfter,
  type SendOutcome,
} from "../../src/mail/mailer";

const message: MailMessage = {
  to: "user@example.com",
  from: "no-reply@mg.example.test",
  subject: "Reset your password",
  text: "code",
  html: "<p>code</p>",
  tags: ["password-reset"],
};

interface Step {
  outcome: SendOutcome;
  /** Simulated duration of the attempt; "timeout" uses up the whole timeout it was given. */
  takesMs?: number | "timeout";
}

function harness(steps: Step[], start = 1_000_000) {
  let clock = start;
  const calls: { at: number; timeoutMs: number }[] = [];
  const sleeps: number[] = [];
  const mailer: Mailer = {
    name: "scripted",
    async send(_message, timeoutMs) {
      calls.push({ at: clock, timeoutMs });
      const step = steps[Math.min(calls.length - 1, steps.length - 1)];
      if (!step) throw new Error("no scripted step");
      clock += step.takesMs === "timeout" ? timeoutMs : (step.takesMs ?? 0);
      return step.outcome;
    },
  };
  return {
    mailer,
    calls,
    sleeps,
    now: () => clock,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock += ms;
    },
    start,
  };
}

const ok: SendOutcome = { ok: true, providerMessageId: "<id@mg>" };
const fail500: SendOutcome = { ok: false, retryable: true, reason: "server-error", status: 500 };

describe("deliverWithRetry", () => {
  test("one 500 then success takes two attempts", async () => {
    const h = harness([{ outcome: fail500 }, { outcome: ok }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 10_000,
      now: h.now,
      sleep: h.sleep,
    });
    expect(result).toEqual({ ok: true, providerMessageId: "<id@mg>", attempts: 2 });
    expect(h.calls).toHaveLength(2);
    expect(h.sleeps).toHaveLength(1);
    expect(h.sleeps[0]).toBeLessThanOrEqual(200);
  });

  test("each attempt gets the time left to the deadline as its timeout", async () => {
    const h = harness([{ outcome: fail500, takesMs: 100 }, { outcome: ok }]);
    await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 5000,
      now: h.now,
      sleep: h.sleep,
      random: () => 0.5,
    });
    expect(h.calls[0]?.timeoutMs).toBe(5000);
    expect(h.calls[1]?.timeoutMs).toBe(5000 - 100 - 100);
  });

  test("honours retryAfterMs", async () => {
    const limited: SendOutcome = {
      ok: false,
      retryable: true,
      reason: "rate-limited",
      status: 429,
      retryAfterMs: 1000,
    };
    const h = harness([{ outcome: limited }, { outcome: ok }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 10_000,
      now: h.now,
      sleep: h.sleep,
      random: () => 0,
    });
    expect(result.ok).toBe(true);
    expect(h.sleeps).toEqual([1000]);
    expect(h.calls[1]?.at).toBe(h.start + 1000);
  });

  test("gives up at once when Retry-After reaches past the deadline", async () => {
    const limited: SendOutcome = {
      ok: false,
      retryable: true,
      reason: "rate-limited",
      status: 429,
      retryAfterMs: 60_000,
    };
    const h = harness([{ outcome: limited }, { outcome: ok }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 10_000,
      now: h.now,
      sleep: h.sleep,
    });
    expect(result).toEqual({ ok: false, reason: "deadline", status: 429, attempts: 1 });
    expect(h.sleeps).toEqual([]);
  });

  test("401 stops after one attempt", async () => {
    const h = harness([
      { outcome: { ok: false, retryable: false, reason: "unauthorized", status: 401 } },
      { outcome: ok },
    ]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 10_000,
      now: h.now,
      sleep: h.sleep,
    });
    expect(result).toEqual({ ok: false, reason: "unauthorized", status: 401, attempts: 1 });
    expect(h.calls).toHaveLength(1);
    expect(h.sleeps).toEqual([]);
  });

  test("runs out of time with reason deadline and starts nothing after the deadline", async () => {
    const h = harness([{ outcome: fail500, takesMs: 300 }]);
    const deadline = h.start + 2000;
    const result = await deliverWithRetry(h.mailer, message, {
      deadline,
      now: h.now,
      sleep: h.sleep,
      random: () => 0.99,
    });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toBe("deadline");
      expect(result.status).toBe(500);
      expect(result.attempts).toBe(h.calls.length);
    }
    expect(h.calls.length).toBeGreaterThan(1);
    for (const call of h.calls) {
      expect(call.at).toBeLessThan(deadline);
      expect(call.at + call.timeoutMs).toBe(deadline);
    }
    expect(h.now()).toBeLessThanOrEqual(deadline);
  });

  test("a timeout that uses the whole budget ends with reason deadline", async () => {
    const timedOut: SendOutcome = { ok: false, retryable: true, reason: "timeout" };
    const h = harness([{ outcome: timedOut, takesMs: "timeout" }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 1000,
      now: h.now,
      sleep: h.sleep,
    });
    expect(result).toEqual({ ok: false, reason: "deadline", attempts: 1 });
  });

  test("a send still unanswered at the deadline ends as unknown, never as not sent", async () => {
    const unanswered: SendOutcome = {
      ok: false,
      retryable: true,
      reason: "timeout",
      maybeSent: true,
    };
    const h = harness([{ outcome: unanswered, takesMs: "timeout" }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 1000,
      now: h.now,
      sleep: h.sleep,
    });
    expect(result).toEqual({ ok: false, reason: "unknown", attempts: 1 });
  });

  test("one unanswered attempt makes the final failure unknown, whatever came after", async () => {
    const unanswered: SendOutcome = {
      ok: false,
      retryable: true,
      reason: "network",
      maybeSent: true,
    };
    const h = harness([{ outcome: unanswered }, { outcome: fail500, takesMs: 600 }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 1000,
      now: h.now,
      sleep: h.sleep,
      random: () => 0.5,
    });
    expect(result).toMatchObject({ ok: false, reason: "unknown", status: 500 });
  });

  test("a connection never made, then the deadline: not sent", async () => {
    const refused: SendOutcome = { ok: false, retryable: true, reason: "network" };
    const h = harness([{ outcome: refused, takesMs: 400 }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 1000,
      now: h.now,
      sleep: h.sleep,
      random: () => 0.5,
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe("deadline");
  });

  test("a deadline already past means no attempt at all", async () => {
    const h = harness([{ outcome: ok }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start,
      now: h.now,
      sleep: h.sleep,
    });
    expect(result).toEqual({ ok: false, reason: "deadline", attempts: 0 });
    expect(h.calls).toHaveLength(0);
  });

  test("backs off exponentially with full jitter up to maxDelayMs", async () => {
    const h = harness([{ outcome: fail500 }]);
    await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 20_000,
      now: h.now,
      sleep: h.sleep,
      random: () => 0.5,
      baseDelayMs: 100,
      maxDelayMs: 1000,
    });
    expect(h.sleeps.slice(0, 6)).toEqual([50, 100, 200, 400, 500, 500]);
  });

  test("never sends again after success", async () => {
    const h = harness([{ outcome: ok }, { outcome: ok }]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 10_000,
      now: h.now,
      sleep: h.sleep,
    });
    expect(result).toEqual({ ok: true, providerMessageId: "<id@mg>", attempts: 1 });
    expect(h.calls).toHaveLength(1);
  });

  test("a mailer that throws is not retried", async () => {
    const h = harness([]);
    const result = await deliverWithRetry(h.mailer, message, {
      deadline: h.start + 10_000,
      now: h.now,
      sleep: h.sleep,
    });
    // It may have sent before throwing: the provider may have the message.
    expect(result).toEqual({ ok: false, reason: "unknown", attempts: 1 });
  });

  test("works with the real clock and sleep", async () => {
    const steps: SendOutcome[] = [fail500, fail500, ok];
    let calls = 0;
    const mailer: Mailer = {
      name: "scripted",
      send: async () => steps[calls++] ?? ok,
    };
    const result = await deliverWithRetry(mailer, message, {
      deadline: Date.now() + 5000,
      baseDelayMs: 5,
    });
    expect(result).toEqual({ ok: true, providerMessageId: "<id@mg>", attempts: 3 });
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-01-01T00:00:00Z");

  test("delta seconds", () => {
    expect(parseRetryAfter("1", now)).toBe(1000);
    expect(parseRetryAfter(" 120 ", now)).toBe(120_000);
    expect(parseRetryAfter("0", now)).toBe(0);
    expect(parseRetryAfter("1.5", now)).toBe(1500);
  });

  test("HTTP date", () => {
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Tue, 31 Dec 2024 23:59:00 GMT", now)).toBe(0);
  });

  test("garbage and absence", () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter("", now)).toBeUndefined();
    expect(parseRetryAfter("-1", now)).toBeUndefined();
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });
});
