/**
 * Malformed requests to the audit API of a real server process: bad and near-miss bearer tokens,
 * query strings with at least one invalid parameter (limits, cursors, ids, emails, types, dates),
 * wrong methods and hostile user ids on erasure, seeded so that a failure replays with
 * FUZZ_SEED. Every answer a JSON 4xx, the server up, nothing erased and nothing else logged.
 */
import { describe, expect, test } from "bun:test";
import { onPostgres } from "../support/database";
import { type Case, expectCasesRejected, useTarget } from "../support/malformed/harness";
import {
  AUDIT_TOKEN,
  authorizationVariants,
  JSON_TYPE,
  noiseHeaders,
  prng,
  REAL_EMAIL,
  type Rng,
  SEED,
  shuffle,
} from "../support/malformed/inputs";

/** Audit query strings of which at least one parameter is invalid. */
function badAuditQuery(r: Rng): string {
  const bad = r.pick([
    "limit=0",
    "limit=1001",
    "limit=-1",
    "limit=1e3",
    "limit=10.5",
    "limit=",
    "limit=%FF",
    "limit=1&limit=2",
    "limit=99999999999999999999",
    "after=-1",
    "after=1.5",
    "after=abc",
    "after=9999999999999999",
    "after=",
    "after=1&after=2",
    "after=999999999",
    `after=${encodeURIComponent("1; drop table events")}`,
    "user_id=not-a-uuid",
    `user_id=${encodeURIComponent("' OR 1=1 --")}`,
    "user_id=00000000-0000-0000-0000-00000000000g",
    "user_id=%00",
    "email=",
    `email=${encodeURIComponent("' OR 1=1 --")}`,
    `email=${encodeURIComponent('"; drop table events; --')}`,
    "email=%E0%A4%A",
    "email=%",
    `email=${encodeURIComponent(`${REAL_EMAIL}\r\nx`)}`,
    "email=a@b&email=c@d",
    "type=",
    `type=${encodeURIComponent("' OR 1=1 --")}`,
    "type=Password%20Reset",
    `type=${"A".repeat(65)}`,
    Array.from({ length: 33 }, () => "type=X").join("&"),
    "type=PasswordResetRequested&type=%00",
    "from=yesterday",
    "from=2024-13-01",
    "from=2024-01-01T25:99:99Z",
    "from=2024-01-01T12:00+99:99",
    "from=0",
    "from=1700000000",
    `from=${encodeURIComponent("2024-01-01'; drop table events; --")}`,
    "to=now",
    "to=2024-00-10",
    "to=9999-99-99",
    "to=2024-01-01&to=2024-01-02",
  ]);
  const harmless = r.pick([
    "",
    "limit=5&",
    "type=PasswordResetRequested&",
    "after=0&",
    "__proto__=x&",
    "constructor=prototype&",
    "__proto__[isAdmin]=1&",
  ]);
  return `?${harmless}${bad}`;
}

function auditEventsCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  const kind = r.pick([
    "bad-token",
    "bad-token",
    "good-token",
    "good-token",
    "good-token",
    "wrong-method",
  ]);
  if (kind === "wrong-method") {
    const method = r.pick(["POST", "PUT", "DELETE", "PATCH"]);
    headers.authorization = `Bearer ${AUDIT_TOKEN}`;
    headers["content-type"] = JSON_TYPE;
    return {
      name: `audit events #${index} ${method}`,
      method,
      path: "/v1/audit/events",
      headers,
      body: "{}",
    };
  }
  if (kind === "bad-token") {
    const auth = authorizationVariants(r, AUDIT_TOKEN);
    if (auth !== undefined) headers.authorization = auth;
    const query = r.chance(0.5)
      ? badAuditQuery(r)
      : r.pick(["", "?limit=5", `?email=${REAL_EMAIL}`]);
    return {
      name: `audit events #${index} token ${auth?.slice(0, 40)} ${query}`,
      method: "GET",
      path: `/v1/audit/events${query}`,
      headers,
      status: 401,
      error: "unauthorized",
    };
  }
  headers.authorization = `Bearer ${AUDIT_TOKEN}`;
  const query = badAuditQuery(r);
  return {
    name: `audit events #${index} ${query}`,
    method: "GET",
    path: `/v1/audit/events${query}`,
    headers,
    status: 400,
  };
}

function auditDeleteCase(r: Rng, index: number, realUserId: string): Case {
  const headers = noiseHeaders(r);
  const good = r.chance(0.6);
  const auth = good ? `Bearer ${AUDIT_TOKEN}` : authorizationVariants(r, AUDIT_TOKEN);
  if (auth !== undefined) headers.authorization = auth;
  const id = good
    ? r.pick([
        "not-a-uuid",
        encodeURIComponent("' OR 1=1 --"),
        encodeURIComponent('"; drop table events; --'),
        "%00",
        "%FF",
        "%",
        "00000000-0000-0000-0000-00000000000",
        `${realUserId}x`,
        `${realUserId}%00`,
        `%20${realUserId}`,
        encodeURIComponent("__proto__"),
        "constructor",
        "a".repeat(1000),
        r.uuid(), // no such user: 404
        "00000000-0000-0000-0000-000000000000",
      ])
    : r.pick([realUserId, r.uuid(), "not-a-uuid"]);
  const method = r.chance(0.1) ? r.pick(["GET", "POST", "PUT"]) : "DELETE";
  return {
    name: `audit delete #${index} ${method} ${id.slice(0, 40)} token ${auth?.slice(0, 30)}`,
    method,
    path: `/v1/audit/users/${id}/personal-data`,
    headers,
    ...(method === "DELETE" && !good ? { status: 401, error: "unauthorized" } : {}),
  };
}

function generateCases(seed: number, realUserId: string): Case[] {
  const r = prng(seed);
  const cases: Case[] = [];
  for (let i = 0; i < 70; i++) cases.push(auditEventsCase(r, i));
  for (let i = 0; i < 40; i++) cases.push(auditDeleteCase(r, i, realUserId));
  // Each case from its own client (the last hop, the trusted one), after any noise: the limit
  // on failed tokens per client is measured in limits.test.ts, not tripped here.
  for (const [i, c] of cases.entries()) {
    const noise = c.headers["x-forwarded-for"];
    c.headers["x-forwarded-for"] = [noise, `10.77.0.${i + 1}`].filter(Boolean).join(", ");
  }
  return shuffle(r, cases);
}

describe(`malformed requests on the audit API (${onPostgres ? "PostgreSQL" : "embedded"}, seed ${SEED})`, () => {
  const target = useTarget();

  test("a hundred generated malformed audit requests: every answer a JSON 4xx, the server up, nothing logged but rejections", async () => {
    const cases = generateCases(SEED, target().realUserId);
    expect(cases.length).toBe(110);
    // The generator reached the routes' own checks, not just the token check.
    await expectCasesRejected(target(), cases, [400, 401, 404]);
  });

  // `new Date("2024-02-30")` would roll over to March 1 and filter from another day silently.
  test("audit from/to: an impossible calendar date (2024-02-30, 2023-02-29) is a 400, not rolled over", async () => {
    const queries = ["from=2024-02-30", "to=2023-02-29T10:00:00Z", "from=2024-04-31"];
    const answers = await Promise.all(
      queries.map(async (query) => {
        const res = await fetch(`${target().server.url}/v1/audit/events?${query}`, {
          headers: { authorization: `Bearer ${AUDIT_TOKEN}` },
        });
        const body = (await res.json()) as { error?: string; events?: unknown[] };
        return { query, status: res.status, error: body.error ?? `${body.events?.length} events` };
      }),
    );
    expect(answers).toEqual(
      queries.map((query) => ({
        query,
        status: 400,
        error: `invalid query parameter: ${query.split("=")[0]}`,
      })),
    );
  });
});
