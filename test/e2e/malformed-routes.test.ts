/**
 * Malformed requests outside the JSON bodies and the audit API, against a real server process:
 * bad bearer tokens on `me`, health with odd headers and wrong methods, unknown paths and wrong
 * methods on known ones, and headers over the runtime's limit; seeded so that a failure replays
 * with FUZZ_SEED. Every answer a JSON 4xx (health answers 200 as usual), the server up, nothing
 * logged but rejections.
 */
import { describe, expect, test } from "bun:test";
import { onPostgres } from "../support/database";
import { type Case, expectCasesRejected, useTarget } from "../support/malformed/harness";
import {
  AUDIT_TOKEN,
  authorizationVariants,
  fieldBody,
  JSON_ROUTES,
  JSON_TYPE,
  noiseHeaders,
  prng,
  type Rng,
  SEED,
  SQL,
  shuffle,
} from "../support/malformed/inputs";

function meCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  const auth = authorizationVariants(r, undefined);
  if (auth !== undefined) headers.authorization = auth;
  if (r.chance(0.15)) {
    const method = r.pick(["POST", "PUT", "DELETE", "PATCH"]);
    headers["content-type"] = JSON_TYPE;
    return {
      name: `me #${index} ${method}`,
      method,
      path: "/v1/auth/me",
      headers,
      body: fieldBody(r, "login"),
    };
  }
  const query = r.chance(0.2) ? `?token=${encodeURIComponent(r.pick(SQL))}` : "";
  return {
    name: `me #${index}: ${auth?.slice(0, 60)}`,
    method: "GET",
    path: `/v1/auth/me${query}`,
    headers,
    status: 401,
    error: "unauthorized",
  };
}

function healthCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  if (r.chance(0.3)) {
    // Valid by design: odd headers and an ignored query string change nothing.
    const auth = authorizationVariants(r, AUDIT_TOKEN);
    if (auth !== undefined) headers.authorization = auth;
    const query = r.pick(["", "?verbose=1", `?x=${encodeURIComponent(r.pick(SQL))}`, "?%FF=%FF"]);
    return {
      name: `health #${index} GET ${query}`,
      method: "GET",
      path: `/v1/health${query}`,
      headers,
      healthy: true,
    };
  }
  const method = r.pick(["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
  headers["content-type"] = r.pick([JSON_TYPE, "text/plain"]);
  const body =
    method === "OPTIONS"
      ? undefined
      : r.pick(["{}", "[", fieldBody(r, "trigger"), "x".repeat(20_000)]);
  return { name: `health #${index} ${method}`, method, path: "/v1/health", headers, body };
}

function unknownRouteCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  const known = Object.values(JSON_ROUTES);
  const kind = r.pick(["unknown", "unknown", "wrong-method"]);
  if (kind === "wrong-method") {
    // GET / is the service's index; any other method there is wrong.
    const path = r.pick([...known, "/v1/auth/me", "/v1/audit/events", "/"]);
    const method =
      path.startsWith("/v1/auth/") && path !== "/v1/auth/me"
        ? r.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
        : r.pick(["PUT", "PATCH", "OPTIONS"]);
    return { name: `wrong method #${index} ${method} ${path}`, method, path, headers };
  }
  const path = r.pick([
    "/v1",
    "/v1/",
    "/v2/auth/register",
    "/v1/auth/registerx",
    "/v1/auth/password-reset",
    "/v1/auth/password-reset/triggers",
    "/v1/healthz",
    "/v1/audit",
    "/v1/audit/events/1",
    "/v1/audit/users",
    "/v1/audit/users/x",
    "/v1/auth/me/x",
    "/admin",
    "/.env",
    "/%00",
    "/%FF%FE",
    `/v1/${encodeURIComponent("' OR 1=1 --")}`,
    `/v1/${"a".repeat(4000)}`,
    "/__proto__",
    "/constructor/prototype",
    "/v1/auth/%2e%2e/%2e%2e/etc/passwd",
    `/nope-${r.hex(8)}`,
  ]);
  const method = r.pick(["GET", "POST", "PUT", "DELETE", "PATCH"]);
  const withBody = method !== "GET";
  if (withBody) headers["content-type"] = JSON_TYPE;
  return {
    name: `unknown #${index} ${method} ${path.slice(0, 60)}`,
    method,
    path,
    headers,
    body: withBody ? r.pick(["{}", fieldBody(r, "register"), "x".repeat(20_000)]) : undefined,
    status: 404,
    error: "not found",
  };
}

function generateCases(seed: number): Case[] {
  const r = prng(seed);
  const cases: Case[] = [];
  for (let i = 0; i < 40; i++) cases.push(meCase(r, i));
  for (let i = 0; i < 25; i++) cases.push(healthCase(r, i));
  for (let i = 0; i < 50; i++) cases.push(unknownRouteCase(r, i));
  return shuffle(r, cases);
}

describe(`malformed requests on me, health and unknown routes (${onPostgres ? "PostgreSQL" : "embedded"}, seed ${SEED})`, () => {
  const target = useTarget();

  test("a hundred generated malformed requests: every answer a JSON 4xx, the server up, nothing logged but rejections", async () => {
    const cases = generateCases(SEED);
    expect(cases.length).toBe(115);
    // The generator reached the routes' own checks, not just the router's.
    await expectCasesRejected(target(), cases, [401, 404]);
  });

  test("headers over the runtime's limit are refused with a 4xx, and the server stays up", async () => {
    // Bun's HTTP parser refuses a request whose headers exceed its limit (16 KiB by default)
    // with 431 and an empty, untyped body before the app sees it: a known gap to the README's rule
    // that every error is JSON, outside what the app's code can answer.
    const res = await fetch(`${target().server.url}/v1/auth/me`, {
      headers: { authorization: `Bearer ${"a".repeat(64 * 1024)}` },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    await res.text();
    expect((await fetch(`${target().server.url}/v1/health`)).status).toBe(200);
  });
});
