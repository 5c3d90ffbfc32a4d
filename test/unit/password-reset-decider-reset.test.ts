/**
 * The reset rules (README: API, Security) as given/when/then on the pure decider: given the events
 * of an email's reset stream (folded with `evolve`), when a ResetPassword command, then the
 * decision and the event it records.
 */
import { describe, expect, test } from "bun:test";
import type { PasswordResetEvent } from "../../events/password-reset";
import {
  decideReset,
  evolve,
  initialResetState,
  MAX_FAILED_ATTEMPTS,
  type ResetDecision,
  type ResetPassword,
  type ResetState,
} from "../../src/password-reset/decider";

const T0 = Date.parse("2026-11-27T10:00:00Z");
const MIN = 60_000;
const TTL = 10 * MIN;

type Given = PasswordResetEvent & { recordedAt: Date };

const given = (...events: Given[]): ResetState => events.reduce(evolve, initialResetState());

const requested = (requestId: string, at: number): Given => ({
  type: "PasswordResetRequested",
  recordedAt: new Date(at),
  data: {
    requestId,
    userId: "u-1",
    codeHash: `hash-${requestId}`,
    sealedCode: `sealed:code:${requestId}`,
    sealedEmail: "sealed:email",
    sealedIp: "sealed:ip",
    sealedUserAgent: "sealed:ua",
    expiresAt: new Date(at + TTL).toISOString(),
    dispatchDeadline: new Date(at + 9_750).toISOString(),
  },
});

const sent = (requestId: string, at: number): Given => ({
  type: "PasswordResetEmailSent",
  recordedAt: new Date(at),
  data: { requestId, provider: "mailgun", providerMessageId: `m-${requestId}`, attempts: 1 },
});

/** A request whose email the provider accepted: the only kind whose code works. */
const delivered = (requestId: string, at: number): Given[] => [
  requested(requestId, at),
  sent(requestId, at + 100),
];

const failed = (requestId: string, at: number, reason: string): Given => ({
  type: "PasswordResetEmailFailed",
  recordedAt: new Date(at),
  data: { requestId, reason, attempts: 1 },
});

const completed = (requestId: string, at: number): Given => ({
  type: "PasswordResetCompleted",
  recordedAt: new Date(at),
  data: { requestId, userId: "u-1", sealedIp: "sealed:ip", sealedUserAgent: "sealed:ua" },
});

/** A command: by default the code of `r1`, no email, at T0 + 1 minute. */
function when(overrides: Partial<ResetPassword> = {}): ResetPassword {
  return {
    type: "ResetPassword",
    now: T0 + MIN,
    ipHash: "ip",
    codeRequestId: "r1",
    emailGiven: false,
    sealedIp: "sealed:ip:reset",
    sealedUserAgent: "sealed:ua:reset",
    ...overrides,
  };
}

/** A wrong code with the email given: the code matched no request of this stream. */
const wrongCode = (now = T0 + MIN) => when({ codeRequestId: null, emailGiven: true, now });

/** Folds the decision's events into the state, as the store would after the append. */
const then = (state: ResetState, decision: ResetDecision, at: number): ResetState =>
  decision.events.map((e) => ({ ...e, recordedAt: new Date(at) }) as Given).reduce(evolve, state);

function rejection(decision: ResetDecision) {
  expect(decision.outcome).toBe("rejected");
  if (decision.outcome !== "rejected") throw new Error("unreachable");
  const [event] = decision.events;
  expect(event.type).toBe("PasswordResetCodeRejected");
  expect(event.data.reason).toBe(decision.reason);
  return event.data;
}

describe("reset a password", () => {
  test("given the latest unexpired code, when it is used, then the reset completes", () => {
    const state = given(requested("r1", T0), sent("r1", T0 + 100));
    const decision = decideReset(when(), state);
    expect(decision).toEqual({
      outcome: "completed",
      userId: "u-1",
      requestId: "r1",
      events: [
        {
          type: "PasswordResetCompleted",
          data: {
            requestId: "r1",
            userId: "u-1",
            sealedIp: "sealed:ip:reset",
            sealedUserAgent: "sealed:ua:reset",
          },
        },
      ],
    });
  });

  test("the email given with the right code completes too, and does not count as a wrong try", () => {
    const state = given(...delivered("r1", T0), wrongTry(1));
    expect(decideReset(when({ emailGiven: true }), state).outcome).toBe("completed");
  });

  test("the completion records no code, password or plaintext personal data", () => {
    const decision = decideReset(when(), given(...delivered("r1", T0)));
    expect(Object.keys(decision.events[0].data).sort()).toEqual(
      ["requestId", "sealedIp", "sealedUserAgent", "userId"].sort(),
    );
  });

  test("given a completed reset, when the same code comes again, then it is rejected as used", () => {
    const state = given(requested("r1", T0), completed("r1", T0 + MIN));
    expect(state.requests.get("r1")?.used).toBe(true);
    const data = rejection(decideReset(when({ now: T0 + 2 * MIN }), state));
    expect(data).toEqual({ requestId: "r1", reason: "used", ipHash: "ip" });
  });

  test("given a newer request, when the older code is used, then it is rejected as superseded", () => {
    const state = given(...delivered("r1", T0), ...delivered("r2", T0 + MIN));
    const data = rejection(decideReset(when({ now: T0 + 2 * MIN }), state));
    expect(data).toEqual({ requestId: "r1", reason: "superseded", ipHash: "ip" });
    // The newer code still works.
    const newer = decideReset(when({ codeRequestId: "r2", now: T0 + 2 * MIN }), state);
    expect(newer.outcome).toBe("completed");
  });

  test("given the latest code, when its lifetime is over, then it is rejected as expired", () => {
    const state = given(...delivered("r1", T0));
    expect(decideReset(when({ now: T0 + TTL - 1 }), state).outcome).toBe("completed");
    const data = rejection(decideReset(when({ now: T0 + TTL }), state));
    expect(data).toEqual({ requestId: "r1", reason: "expired", ipHash: "ip" });
  });

  test("given a code whose request is older than the history read, then it is expired", () => {
    // The service found the code's row, but its request is outside the history window.
    const state = given(requested("r2", T0));
    const data = rejection(decideReset(when({ codeRequestId: "r-old" }), state));
    expect(data.reason).toBe("expired");
  });

  test("given no email, when the code matches nothing, then it is an unknown code", () => {
    const decision = decideReset(when({ codeRequestId: null }), given(requested("r1", T0)));
    expect(rejection(decision)).toEqual({ reason: "unknown_code", ipHash: "ip" });
  });

  test("given no email, wrong codes never lock the account's code", () => {
    let state = given(...delivered("r1", T0));
    for (let i = 0; i < MAX_FAILED_ATTEMPTS + 2; i++) {
      const decision = decideReset(when({ codeRequestId: null }), state);
      expect(rejection(decision)).toEqual({ reason: "unknown_code", ipHash: "ip" });
      state = then(state, decision, T0 + MIN);
    }
    expect(state.requests.get("r1")?.failedByIp.size).toBe(0);
    expect(state.requests.get("r1")?.lockedFor.size).toBe(0);
    expect(decideReset(when(), state).outcome).toBe("completed");
  });
});

describe("a code works only once its email is recorded as sent", () => {
  test("given a request whose outcome is not recorded yet, the code does not work", () => {
    const data = rejection(decideReset(when(), given(requested("r1", T0))));
    expect(data).toEqual({ requestId: "r1", reason: "undelivered", ipHash: "ip" });
  });

  test("given a failed or unknown dispatch, the code is dead", () => {
    for (const reason of ["rejected", "deadline", "unknown"]) {
      const state = given(requested("r1", T0), failed("r1", T0 + 100, reason));
      expect(rejection(decideReset(when(), state)).reason).toBe("undelivered");
    }
  });

  test("given the email sent, the same code works", () => {
    expect(decideReset(when(), given(...delivered("r1", T0))).outcome).toBe("completed");
  });
});

/** The wrong try number n (1-based) against r1, as the decider records it. */
function wrongTry(n: number): Given {
  return {
    type: "PasswordResetCodeRejected",
    recordedAt: new Date(T0 + n * 1000),
    data: {
      requestId: "r1",
      reason: "wrong_code",
      failedAttempts: n,
      ...(n >= MAX_FAILED_ATTEMPTS ? { locked: true } : {}),
      ipHash: "ip",
    },
  };
}

describe("wrong codes with the email lock the latest code", () => {
  test("the limit is the documented five", () => {
    expect(MAX_FAILED_ATTEMPTS).toBe(5);
  });

  test("given a code, when a wrong code comes with the email, then it counts against the latest code", () => {
    const state = given(requested("r1", T0));
    const data = rejection(decideReset(wrongCode(), state));
    expect(data).toEqual({
      requestId: "r1",
      reason: "wrong_code",
      failedAttempts: 1,
      ipHash: "ip",
    });
  });

  test("the count is against the latest code, not a superseded one", () => {
    const state = given(requested("r0", T0 - MIN), requested("r1", T0));
    const data = rejection(decideReset(wrongCode(), state));
    expect(data).toMatchObject({ requestId: "r1", failedAttempts: 1 });
  });

  test("the first four wrong tries do not lock; the fifth carries locked: true", () => {
    let state = given(requested("r1", T0), sent("r1", T0 + 100));
    for (let n = 1; n <= MAX_FAILED_ATTEMPTS; n++) {
      const decision = decideReset(wrongCode(T0 + n * 1000), state);
      const data = rejection(decision);
      expect(data).toEqual({
        requestId: "r1",
        reason: "wrong_code",
        failedAttempts: n,
        ...(n === MAX_FAILED_ATTEMPTS ? { locked: true } : {}),
        ipHash: "ip",
      });
      state = then(state, decision, T0 + n * 1000);
      expect(state.requests.get("r1")?.lockedFor.has("ip")).toBe(n === MAX_FAILED_ATTEMPTS);
    }
  });

  test("given four wrong tries, the right code still completes", () => {
    const state = given(...delivered("r1", T0), wrongTry(1), wrongTry(2), wrongTry(3), wrongTry(4));
    expect(decideReset(when({ emailGiven: true }), state).outcome).toBe("completed");
  });

  test("given the lock, when the right code comes (with or without email), then it is rejected as locked", () => {
    const state = given(
      requested("r1", T0),
      ...Array.from({ length: MAX_FAILED_ATTEMPTS }, (_, i) => wrongTry(i + 1)),
    );
    expect(state.requests.get("r1")?.failedByIp.get("ip")).toBe(5);
    expect(state.requests.get("r1")?.lockedFor.has("ip")).toBe(true);

    const withEmail = rejection(decideReset(when({ emailGiven: true }), state));
    expect(withEmail).toEqual({ requestId: "r1", reason: "locked", ipHash: "ip" });
    const withoutEmail = rejection(decideReset(when(), state));
    expect(withoutEmail).toEqual({ requestId: "r1", reason: "locked", ipHash: "ip" });
  });

  test("given the lock, further wrong tries change nothing", () => {
    const state = given(
      requested("r1", T0),
      ...Array.from({ length: MAX_FAILED_ATTEMPTS }, (_, i) => wrongTry(i + 1)),
    );
    const data = rejection(decideReset(wrongCode(T0 + 10_000), state));
    expect(data).toEqual({ reason: "wrong_code", ipHash: "ip" });
  });

  test("given the lock, a new request gives a fresh code that works", () => {
    const state = given(
      requested("r1", T0),
      ...Array.from({ length: MAX_FAILED_ATTEMPTS }, (_, i) => wrongTry(i + 1)),
      ...delivered("r2", T0 + 2 * MIN),
    );
    const decision = decideReset(
      when({ codeRequestId: "r2", emailGiven: true, now: T0 + 3 * MIN }),
      state,
    );
    expect(decision.outcome).toBe("completed");
  });

  test("given a used code, later wrong tries with the email do not count or lock anything", () => {
    let state = given(requested("r1", T0), completed("r1", T0 + MIN));
    for (let n = 1; n <= MAX_FAILED_ATTEMPTS + 2; n++) {
      const decision = decideReset(wrongCode(T0 + MIN + n * 1000), state);
      const data = rejection(decision);
      expect(data).toEqual({ reason: "wrong_code", ipHash: "ip" });
      expect(data.locked).toBeUndefined();
      state = then(state, decision, T0 + MIN + n * 1000);
    }
    expect(state.requests.get("r1")?.used).toBe(true);
    expect(state.requests.get("r1")?.lockedFor.size).toBe(0);
    expect(state.requests.get("r1")?.failedByIp.size).toBe(0);
    // The used code itself is still reported as used, not locked.
    expect(rejection(decideReset(when({ emailGiven: true }), state)).reason).toBe("used");
  });

  test("a stranger's five wrong tries lock the code for the stranger only: the owner's works", () => {
    const state = given(
      ...delivered("r1", T0),
      ...Array.from({ length: MAX_FAILED_ATTEMPTS }, (_, i) => wrongTry(i + 1)),
    );
    const stranger = rejection(decideReset(when({ emailGiven: true }), state));
    expect(stranger.reason).toBe("locked");
    const owner = decideReset(when({ emailGiven: true, ipHash: "owner-ip" }), state);
    expect(owner.outcome).toBe("completed");
  });

  test("given no request at all, a wrong code with an email is rejected without counting", () => {
    const data = rejection(decideReset(wrongCode(), given()));
    expect(data).toEqual({ reason: "wrong_code", ipHash: "ip" });
  });
});
