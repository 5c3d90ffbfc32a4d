/**
 * The trigger rules (README: Security) as given/when/then on the pure decider: given the events of
 * an email's reset stream, when a TriggerPasswordReset command, then the decision.
 */
import { describe, expect, test } from "bun:test";
import {
  decideTrigger,
  evolve,
  initialResetState,
  type TriggerPasswordReset,
} from "../../src/password-reset/decider";
import { deciderSpec } from "../support/decider-spec";
import {
  DISPATCH_WINDOW_MS,
  MIN,
  rateLimited,
  recorded,
  requested,
  SEALED,
  sent,
  T0,
  TTL,
  unknownEmail,
} from "../support/event-fixtures";

const spec = deciderSpec({ decide: decideTrigger, evolve, initialState: initialResetState });

const account = { ...SEALED, codeHash: "hash-new", sealedCode: "sealed:code" };

/** A command: by default account u-1's trigger from client "ip" at T0, limits on. */
function when(overrides: Partial<TriggerPasswordReset> = {}): TriggerPasswordReset {
  return {
    type: "TriggerPasswordReset",
    requestId: "r-new",
    now: T0,
    ipHash: "ip",
    account,
    codeTtlMs: TTL,
    dispatchWindowMs: DISPATCH_WINDOW_MS,
    rateLimits: true,
    ...overrides,
  };
}

/** Ten requests over the last 50 minutes, one every five: the hourly cap is reached. */
const tenInTheHour = (ipHash: (i: number) => string = () => "ip") =>
  Array.from({ length: 10 }, (_, i) => requested(`r${i}`, T0 - 50 * MIN + i * 5 * MIN, ipHash(i)));

describe("trigger a password reset", () => {
  test("given no history, when a known email triggers, then a request with expiry and deadline", () => {
    spec
      .given()
      .when(when())
      .thenMatches({
        outcome: "requested",
        events: [
          {
            type: "PasswordResetRequested",
            data: {
              requestId: "r-new",
              userId: "u-1",
              codeHash: "hash-new",
              expiresAt: new Date(T0 + TTL).toISOString(),
              dispatchDeadline: new Date(T0 + DISPATCH_WINDOW_MS).toISOString(),
            },
          },
        ],
      });
  });

  test("the event never carries a plaintext code: only its hash and seal", () => {
    const { decision } = spec.given().when(when());
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
    spec
      .given()
      .when(when({ account: null }))
      .thenEquals({
        outcome: "unknown_email",
        events: [
          {
            type: "PasswordResetRejected",
            data: { requestId: "r-new", reason: "unknown_email", ipHash: "ip" },
          },
        ],
      });
  });

  test("given no account and a decoy (conceal mode), then the rejection is padded to the size of the request the decoy would have made", () => {
    const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
    const decoy = { ...account, userId: "u-decoy", sealedEmail: "0".repeat(80) };
    const { decision } = spec.given().when(when({ account: null, decoy }));
    const request = spec.given().when(when({ account: decoy })).decision;
    expect(decision.outcome).toBe("unknown_email");
    expect(request.outcome).toBe("requested");
    const [rejection] = decision.events;
    expect(rejection?.type).toBe("PasswordResetRejected");
    const { padding, ...rest } = (rejection?.data ?? {}) as Record<string, unknown>;
    expect(rest).toEqual({ requestId: "r-new", reason: "unknown_email", ipHash: "ip" });
    expect(padding).toMatch(/^0+$/);
    // Nothing of the decoy is in the log: only its size.
    expect(jsonBytes(rejection?.data)).toBe(jsonBytes(request.events[0]?.data));

    // A limited trigger is refused as it is without a decoy.
    const burst = spec.given(unknownEmail("a", T0), unknownEmail("b", T0), unknownEmail("c", T0));
    const refused = burst.when(when({ account: null, decoy })).decision;
    expect(refused).toEqual(burst.when(when({ account: null })).decision);
    expect(refused.outcome).toBe("rate_limited");
  });

  test("given three requests in a burst, then the fourth is rate limited until a minute has passed", () => {
    const burst = spec.given(
      requested("a", T0 - 2_000),
      requested("b", T0 - 1_000),
      requested("c", T0),
    );
    burst.when(when()).thenMatches({
      outcome: "rate_limited",
      retryAfterSeconds: 58,
      events: [{ data: { reason: "rate_limited", limit: "email_burst" } }],
    });
    burst.when(when({ now: T0 + 58_000 })).thenMatches({ outcome: "requested" });
  });

  test("the limits hold for unknown emails too", () => {
    spec
      .given(unknownEmail("a", T0), unknownEmail("b", T0), unknownEmail("c", T0))
      .when(when({ account: null }))
      .thenMatches({ outcome: "rate_limited" });
  });

  test("refused attempts do not count, so hammering does not extend the wait", () => {
    spec
      .given(
        requested("a", T0 - 3 * MIN),
        requested("b", T0 - 3 * MIN),
        requested("c", T0 - 3 * MIN),
        rateLimited("x", T0 - 2 * MIN),
        rateLimited("y", T0 - MIN),
      )
      .when(when())
      .thenMatches({ outcome: "requested" });
  });

  test("after the burst, one a minute; at most ten in an hour", () => {
    spec
      .given(...tenInTheHour())
      .when(when({ now: T0 }))
      .thenMatches({
        outcome: "rate_limited",
        events: [{ data: { limit: "email_hourly" } }],
        // The oldest of the ten leaves the hour 10 minutes from now.
        retryAfterSeconds: 10 * 60,
      });
  });

  test("strangers' triggers do not spend the owner's burst: each client has its own", () => {
    const burst = spec.given(
      requested("a", T0 - 2_000, "stranger"),
      requested("b", T0 - 1_000, "stranger"),
      requested("c", T0, "stranger"),
    );
    burst.when(when({ ipHash: "stranger" })).thenMatches({ outcome: "rate_limited" });
    burst.when(when({ ipHash: "owner" })).thenMatches({ outcome: "requested" });
  });

  test("past the hourly cap, a client new to the email in the hour still gets one, and only one", () => {
    const history = tenInTheHour((i) => `stranger-${i % 2}`);
    spec
      .given(...history)
      .when(when({ ipHash: "stranger-0" }))
      .thenMatches({ outcome: "rate_limited" });
    const owner = spec.given(...history).when(when({ ipHash: "owner" }));
    owner.thenMatches({ outcome: "requested" });
    const after = spec.given(...history, ...recorded(owner.decision.events, T0));
    after.when(when({ ipHash: "owner", now: T0 + 2 * MIN })).thenMatches({
      outcome: "rate_limited",
    });
    // The strangers' next email after the owner's code waits for room under the cap.
    after
      .when(when({ ipHash: "stranger-1", now: T0 + MIN }))
      .thenMatches({ outcome: "rate_limited" });
  });

  test("with rate limits off, nothing is limited", () => {
    spec
      .given(...Array.from({ length: 12 }, (_, i) => requested(`r${i}`, T0)))
      .when(when({ rateLimits: false }))
      .thenMatches({ outcome: "requested" });
  });

  test("a newer request supersedes the earlier one", () => {
    const { state } = spec.given(requested("a", T0 - MIN), requested("b", T0));
    expect(state.latestRequestId).toBe("b");
    expect([...state.requests.keys()]).toEqual(["a", "b"]);
  });

  test("an outcome settles its request", () => {
    const { state } = spec.given(requested("a", T0), sent("a", T0 + 100));
    expect(state.requests.get("a")?.outcome).toBe("sent");
  });

  test("an outcome that arrives after a newer request settles the earlier one, the newer untouched", () => {
    const { state } = spec.given(
      requested("a", T0),
      requested("b", T0 + 10),
      requested("c", T0 + 20),
      sent("a", T0 + 30),
    );
    expect([...state.requests.keys()]).toEqual(["a", "b", "c"]);
    expect(state.requests.get("a")?.outcome).toBe("sent");
    expect(state.requests.get("b")?.outcome).toBe("pending");
    expect(state.latestRequestId).toBe("c");
  });
});
