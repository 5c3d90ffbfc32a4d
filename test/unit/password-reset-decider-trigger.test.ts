import { describe, expect, test } from "bun:test";
import type { PasswordResetEvent } from "../../events/password-reset";
import {
  decideTrigger,
  evolve,
  initialResetState,
  type TriggerPasswordReset,
} from "../../src/password-reset/decider";

const T0 = Date.parse("2026-11-27T10:00:00Z");
const MIN = 60_000;

const account = {
  userId: "u-1",
  codeHash: "hash-new",
  sealedCode: "sealed:code",
  sealedEmail: "sealed:email",
  sealedIp: "sealed:ip",
  sealedUserAgent: "sealed:ua",
};

function when(overrides: Partial<TriggerPasswordReset> = {}): TriggerPasswordReset {
  return {
    type: "TriggerPasswordReset",
    requestId: "r-new",
    now: T0,
    ipHash: "ip",
    account,
    codeTtlMs: 10 * MIN,
    dispatchWindowMs: 9_750,
    rateLimits: true,
    ...overrides,
  };
}

const requested = (requestId: string, at: number, ipHash = "ip") =>
  ({
    type: "PasswordResetRequested",
    recordedAt: new Date(at),
    data: {
      ...account,
      requestId,
      ipHash,
      codeHash: `hash-${requestId}`,
      expiresAt: new Date(at + 10 * MIN).toISOString(),
      dispatchDeadline: new Date(at + 9_750).toISOString(),
    },
  }) as PasswordResetEvent & { recordedAt: Date };

const unknownEmail = (requestId: string, at: number) =>
  ({
    type: "PasswordResetRejected",
    recordedAt: new Date(at),
    data: { requestId, reason: "unknown_email", ipHash: "ip" },
  }) as PasswordResetEvent & { recordedAt: Date };

const rateLimited = (requestId: string, at: number) =>
  ({
    type: "PasswordResetRejected",
    recordedAt: new Date(at),
    data: { requestId, reason: "rate_limited", limit: "email_burst", ipHash: "ip" },
  }) as PasswordResetEvent & { recordedAt: Date };

const given = (...events: (PasswordResetEvent & { recordedAt: Date })[]) =>
  events.reduce(evolve, initialResetState());

describe("trigger a password reset", () => {
  test("given no history, when a known email triggers, then a request with expiry and deadline", () => {
    const decision = decideTrigger(when(), given());
    expect(decision.outcome).toBe("requested");
    const [event] = decision.events;
    expect(event.type).toBe("PasswordResetRequested");
    expect(event.data).toMatchObject({
      requestId: "r-new",
      userId: "u-1",
      codeHash: "hash-new",
      expiresAt: new Date(T0 + 10 * MIN).toISOString(),
      dispatchDeadline: new Date(T0 + 9_750).toISOString(),
    });
  });

  test("the event never carries a plaintext code: only its hash and seal", () => {
    const decision = decideTrigger(when(), given());
    expect(Object.keys(decision.events[0].data).sort()).toEqual(
      [
        "codeHash",
        "dispatchDeadline",
        "expiresAt",
        "ipHash",
        "requestId",
        "sealedCode",
        "sealedEmail",
        "sealedIp",
        "sealedUserAgent",
        "userId",
      ].sort(),
    );
  });

  test("given no account, then the attempt is recorded as an unknown-email rejection", () => {
    const decision = decideTrigger(when({ account: null }), given());
    expect(decision.outcome).toBe("unknown_email");
    expect(decision.events[0].data).toEqual({
      requestId: "r-new",
      reason: "unknown_email",
      ipHash: "ip",
    });
  });

  test("given three requests in a burst, then the fourth is rate limited until a minute has passed", () => {
    const state = given(requested("a", T0 - 2_000), requested("b", T0 - 1_000), requested("c", T0));
    const decision = decideTrigger(when(), state);
    expect(decision.outcome).toBe("rate_limited");
    if (decision.outcome !== "rate_limited") return;
    expect(decision.events[0].data).toMatchObject({ reason: "rate_limited", limit: "email_burst" });
    expect(decision.retryAfterSeconds).toBe(58);
    expect(decideTrigger(when({ now: T0 + 58_000 }), state).outcome).toBe("requested");
  });

  test("the limits hold for unknown emails too", () => {
    const state = given(unknownEmail("a", T0), unknownEmail("b", T0), unknownEmail("c", T0));
    expect(decideTrigger(when({ account: null }), state).outcome).toBe("rate_limited");
  });

  test("refused attempts do not count, so hammering does not extend the wait", () => {
    const state = given(
      requested("a", T0 - 3 * MIN),
      requested("b", T0 - 3 * MIN),
      requested("c", T0 - 3 * MIN),
      rateLimited("x", T0 - 2 * MIN),
      rateLimited("y", T0 - MIN),
    );
    expect(decideTrigger(when(), state).outcome).toBe("requested");
  });

  test("after the burst, one a minute; at most ten in an hour", () => {
    const times = Array.from({ length: 10 }, (_, i) => T0 - 50 * MIN + i * 5 * MIN);
    const state = given(...times.map((t, i) => requested(`r${i}`, t)));
    const decision = decideTrigger(when({ now: T0 }), state);
    expect(decision.outcome).toBe("rate_limited");
    if (decision.outcome !== "rate_limited") return;
    expect(decision.events[0].data.limit).toBe("email_hourly");
    // The oldest of the ten leaves the hour 10 minutes from now.
    expect(decision.retryAfterSeconds).toBe(10 * 60);
  });

  test("strangers' triggers do not spend the owner's burst: each client has its own", () => {
    const state = given(
      requested("a", T0 - 2_000, "stranger"),
      requested("b", T0 - 1_000, "stranger"),
      requested("c", T0, "stranger"),
    );
    expect(decideTrigger(when({ ipHash: "stranger" }), state).outcome).toBe("rate_limited");
    expect(decideTrigger(when({ ipHash: "owner" }), state).outcome).toBe("requested");
  });

  test("past the hourly cap, a client new to the email in the hour still gets one, and only one", () => {
    const times = Array.from({ length: 10 }, (_, i) => T0 - 50 * MIN + i * 5 * MIN);
    const state = given(...times.map((t, i) => requested(`r${i}`, t, `stranger-${i % 2}`)));
    expect(decideTrigger(when({ ipHash: "stranger-0" }), state).outcome).toBe("rate_limited");
    const owner = decideTrigger(when({ ipHash: "owner" }), state);
    expect(owner.outcome).toBe("requested");
    const after = evolve(state, { ...owner.events[0], recordedAt: new Date(T0) } as never);
    const again = decideTrigger(when({ ipHash: "owner", now: T0 + 2 * MIN }), after);
    expect(again.outcome).toBe("rate_limited");
    // The strangers' next email after the owner's code waits for room under the cap.
    expect(decideTrigger(when({ ipHash: "stranger-1", now: T0 + MIN }), after).outcome).toBe(
      "rate_limited",
    );
  });

  test("with rate limits off, nothing is limited", () => {
    const state = given(...Array.from({ length: 12 }, (_, i) => requested(`r${i}`, T0)));
    expect(decideTrigger(when({ rateLimits: false }), state).outcome).toBe("requested");
  });

  test("a newer request supersedes the earlier one", () => {
    const state = given(requested("a", T0 - MIN), requested("b", T0));
    expect(state.latestRequestId).toBe("b");
    expect([...state.requests.keys()]).toEqual(["a", "b"]);
  });

  test("an outcome settles its request", () => {
    const state = given(requested("a", T0), {
      type: "PasswordResetEmailSent",
      recordedAt: new Date(T0 + 100),
      data: { requestId: "a", provider: "mailgun", providerMessageId: "m", attempts: 1 },
    } as PasswordResetEvent & { recordedAt: Date });
    expect(state.requests.get("a")?.outcome).toBe("sent");
  });
});
