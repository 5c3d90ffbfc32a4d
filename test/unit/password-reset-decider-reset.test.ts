/**
 * The reset rules (README: API, Security) as given/when/then on the pure decider: given the events
 * of an email's reset stream, when a ResetPassword command, then the decision and the event it
 * records.
 */
import { describe, expect, test } from "bun:test";
import {
  decideReset,
  evolve,
  initialResetState,
  MAX_FAILED_ATTEMPTS,
  type ResetDecision,
  type ResetPassword,
} from "../../src/password-reset/decider";
import { deciderSpec } from "../support/decider-spec";
import {
  completed,
  delivered,
  failed,
  lockingTries,
  MIN,
  type RecordedResetEvent,
  recorded,
  requested,
  sent,
  T0,
  TTL,
  wrongTry,
} from "../support/event-fixtures";

const spec = deciderSpec({ decide: decideReset, evolve, initialState: initialResetState });

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

/** The rejection's event data, once the decision is checked to be a consistent rejection. */
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
    spec
      .given(requested("r1", T0), sent("r1", T0 + 100))
      .when(when())
      .thenEquals({
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
    spec
      .given(...delivered("r1", T0), wrongTry(1))
      .when(when({ emailGiven: true }))
      .thenMatches({ outcome: "completed" });
  });

  test("the completion records no code, password or plaintext personal data", () => {
    const { decision } = spec.given(...delivered("r1", T0)).when(when());
    expect(Object.keys(decision.events[0].data).sort()).toEqual(
      ["requestId", "sealedIp", "sealedUserAgent", "userId"].sort(),
    );
  });

  test("given a completed reset, when the same code comes again, then it is rejected as used", () => {
    const given = spec.given(requested("r1", T0), completed("r1", T0 + MIN));
    expect(given.state.requests.get("r1")?.used).toBe(true);
    const data = rejection(given.when(when({ now: T0 + 2 * MIN })).decision);
    expect(data).toEqual({ requestId: "r1", reason: "used", ipHash: "ip" });
  });

  test("given a newer request, when the older code is used, then it is rejected as superseded", () => {
    const given = spec.given(...delivered("r1", T0), ...delivered("r2", T0 + MIN));
    const data = rejection(given.when(when({ now: T0 + 2 * MIN })).decision);
    expect(data).toEqual({ requestId: "r1", reason: "superseded", ipHash: "ip" });
    // The newer code still works.
    given
      .when(when({ codeRequestId: "r2", now: T0 + 2 * MIN }))
      .thenMatches({ outcome: "completed" });
  });

  test("given the latest code, when its lifetime is over, then it is rejected as expired", () => {
    const given = spec.given(...delivered("r1", T0));
    given.when(when({ now: T0 + TTL - 1 })).thenMatches({ outcome: "completed" });
    const data = rejection(given.when(when({ now: T0 + TTL })).decision);
    expect(data).toEqual({ requestId: "r1", reason: "expired", ipHash: "ip" });
  });

  test("given a code whose request is older than the history read, then it is expired", () => {
    // The service found the code's row, but its request is outside the history window.
    const { decision } = spec.given(requested("r2", T0)).when(when({ codeRequestId: "r-old" }));
    expect(rejection(decision).reason).toBe("expired");
  });

  test("given no email, when the code matches nothing, then it is an unknown code", () => {
    const { decision } = spec.given(requested("r1", T0)).when(when({ codeRequestId: null }));
    expect(rejection(decision)).toEqual({ reason: "unknown_code", ipHash: "ip" });
  });

  test("given no email, wrong codes never lock the account's code", () => {
    const history = delivered("r1", T0);
    for (let i = 0; i < MAX_FAILED_ATTEMPTS + 2; i++) {
      const { decision } = spec.given(...history).when(when({ codeRequestId: null }));
      expect(rejection(decision)).toEqual({ reason: "unknown_code", ipHash: "ip" });
      history.push(...recorded(decision.events, T0 + MIN));
    }
    const given = spec.given(...history);
    expect(given.state.requests.get("r1")?.failedByIp.size).toBe(0);
    expect(given.state.requests.get("r1")?.lockedFor.size).toBe(0);
    given.when(when()).thenMatches({ outcome: "completed" });
  });
});

describe("a code works only once its email is recorded as sent", () => {
  test("given a request whose outcome is not recorded yet, the code does not work", () => {
    const data = rejection(spec.given(requested("r1", T0)).when(when()).decision);
    expect(data).toEqual({ requestId: "r1", reason: "undelivered", ipHash: "ip" });
  });

  test("given a failed or unknown dispatch, the code is dead", () => {
    for (const reason of ["rejected", "deadline", "unknown"]) {
      const given = spec.given(requested("r1", T0), failed("r1", T0 + 100, reason));
      expect(rejection(given.when(when()).decision).reason).toBe("undelivered");
    }
  });

  test("given the email sent, the same code works", () => {
    spec
      .given(...delivered("r1", T0))
      .when(when())
      .thenMatches({ outcome: "completed" });
  });
});

describe("wrong codes with the email lock the latest code", () => {
  test("the limit is the documented five", () => {
    expect(MAX_FAILED_ATTEMPTS).toBe(5);
  });

  test("given a code, when a wrong code comes with the email, then it counts against the latest code", () => {
    const data = rejection(spec.given(requested("r1", T0)).when(wrongCode()).decision);
    expect(data).toEqual({
      requestId: "r1",
      reason: "wrong_code",
      failedAttempts: 1,
      ipHash: "ip",
    });
  });

  test("the count is against the latest code, not a superseded one", () => {
    const given = spec.given(requested("r0", T0 - MIN), requested("r1", T0));
    const data = rejection(given.when(wrongCode()).decision);
    expect(data).toMatchObject({ requestId: "r1", failedAttempts: 1 });
  });

  test("the first four wrong tries do not lock; the fifth carries locked: true", () => {
    const history: RecordedResetEvent[] = [requested("r1", T0), sent("r1", T0 + 100)];
    for (let n = 1; n <= MAX_FAILED_ATTEMPTS; n++) {
      const { decision } = spec.given(...history).when(wrongCode(T0 + n * 1000));
      const data = rejection(decision);
      expect(data).toEqual({
        requestId: "r1",
        reason: "wrong_code",
        failedAttempts: n,
        ...(n === MAX_FAILED_ATTEMPTS ? { locked: true } : {}),
        ipHash: "ip",
      });
      history.push(...recorded(decision.events, T0 + n * 1000));
      const { state } = spec.given(...history);
      expect(state.requests.get("r1")?.lockedFor.has("ip")).toBe(n === MAX_FAILED_ATTEMPTS);
    }
  });

  test("given four wrong tries, the right code still completes", () => {
    spec
      .given(...delivered("r1", T0), wrongTry(1), wrongTry(2), wrongTry(3), wrongTry(4))
      .when(when({ emailGiven: true }))
      .thenMatches({ outcome: "completed" });
  });

  test("given the lock, when the right code comes (with or without email), then it is rejected as locked", () => {
    const given = spec.given(requested("r1", T0), ...lockingTries());
    expect(given.state.requests.get("r1")?.failedByIp.get("ip")).toBe(5);
    expect(given.state.requests.get("r1")?.lockedFor.has("ip")).toBe(true);

    const withEmail = rejection(given.when(when({ emailGiven: true })).decision);
    expect(withEmail).toEqual({ requestId: "r1", reason: "locked", ipHash: "ip" });
    const withoutEmail = rejection(given.when(when()).decision);
    expect(withoutEmail).toEqual({ requestId: "r1", reason: "locked", ipHash: "ip" });
  });

  test("given the lock, further wrong tries change nothing", () => {
    const given = spec.given(requested("r1", T0), ...lockingTries());
    const data = rejection(given.when(wrongCode(T0 + 10_000)).decision);
    expect(data).toEqual({ reason: "wrong_code", ipHash: "ip" });
  });

  test("given the lock, a new request gives a fresh code that works", () => {
    spec
      .given(requested("r1", T0), ...lockingTries(), ...delivered("r2", T0 + 2 * MIN))
      .when(when({ codeRequestId: "r2", emailGiven: true, now: T0 + 3 * MIN }))
      .thenMatches({ outcome: "completed" });
  });

  test("given a used code, later wrong tries with the email do not count or lock anything", () => {
    const history = [requested("r1", T0), completed("r1", T0 + MIN)];
    for (let n = 1; n <= MAX_FAILED_ATTEMPTS + 2; n++) {
      const { decision } = spec.given(...history).when(wrongCode(T0 + MIN + n * 1000));
      const data = rejection(decision);
      expect(data).toEqual({ reason: "wrong_code", ipHash: "ip" });
      expect(data.locked).toBeUndefined();
      history.push(...recorded(decision.events, T0 + MIN + n * 1000));
    }
    const given = spec.given(...history);
    expect(given.state.requests.get("r1")?.used).toBe(true);
    expect(given.state.requests.get("r1")?.lockedFor.size).toBe(0);
    expect(given.state.requests.get("r1")?.failedByIp.size).toBe(0);
    // The used code itself is still reported as used, not locked.
    expect(rejection(given.when(when({ emailGiven: true })).decision).reason).toBe("used");
  });

  test("a stranger's five wrong tries lock the code for the stranger only: the owner's works", () => {
    const given = spec.given(...delivered("r1", T0), ...lockingTries());
    const stranger = rejection(given.when(when({ emailGiven: true })).decision);
    expect(stranger.reason).toBe("locked");
    given
      .when(when({ emailGiven: true, ipHash: "owner-ip" }))
      .thenMatches({ outcome: "completed" });
  });

  test("given no request at all, a wrong code with an email is rejected without counting", () => {
    const data = rejection(spec.given().when(wrongCode()).decision);
    expect(data).toEqual({ reason: "wrong_code", ipHash: "ip" });
  });
});
