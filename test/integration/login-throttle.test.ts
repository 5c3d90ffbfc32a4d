/**
 * Logins and registrations under attack (README: Security): failed logins
 * throttled per account and per client IP, a taken email's 409 throttled like a failed login,
 * password hashing bounded so a burst of logins leaves the other routes answering, and
 * passwords with lone surrogates refused before any hashing.
 */
import { describe, expect, test } from "bun:test";
import { limits } from "../../src/rate-limits/gcra";
import { freshIp, uniqueEmail } from "../support/random";
import { useRuntime } from "../support/runtime";

const password = "Thr0ttle-Passw0rd!";
const t = useRuntime({ TRUST_PROXY: "1" });

const from = (ip: string) => ({ "x-forwarded-for": ip });

async function registered(tag: string): Promise<string> {
  const email = uniqueEmail(tag);
  const res = await t.request("POST", "/v1/auth/register", { email, password }, from(freshIp()));
  expect(res.status).toBe(201);
  return email;
}

function expectTooMany(
  res: { status: number; json: unknown; headers: Headers },
  maxSeconds: number,
) {
  expect({ status: res.status, body: res.json }).toEqual({
    status: 429,
    body: { error: "too many requests" },
  });
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
}

// The per-account and per-IP numbers are measured against the README in limits.test.ts.
describe("failed logins are throttled", () => {
  test("successful logins do not count", async () => {
    const email = await registered("regular");
    const ip = freshIp();
    for (let i = 0; i < limits.failedLoginsPerAccount.max + 2; i++) {
      const res = await t.request("POST", "/v1/auth/login", { email, password }, from(ip));
      expect(res.status).toBe(200);
    }
  });

  test("a taken email's 409 counts like a failed login, per client IP", async () => {
    const email = await registered("taken");
    const ip = freshIp();
    const { max, windowMs } = limits.failedAuthPerIp;
    // The address's registrations run out first; failed logins fill the rest of the budget.
    const conflicts = limits.registrationsPerIp.max;
    expect(conflicts).toBeLessThan(max);
    for (let i = 0; i < conflicts; i++) {
      const res = await t.request("POST", "/v1/auth/register", { email, password }, from(ip));
      expect(res.status).toBe(409);
    }
    const login = () =>
      t.request("POST", "/v1/auth/login", { email: uniqueEmail("unknown"), password }, from(ip));
    for (let i = conflicts; i < max; i++) expect((await login()).status).toBe(401);
    expectTooMany(await login(), windowMs / 1000);
  });
});

// The number is measured against the README in limits.test.ts.
describe("registrations are limited per client IP", () => {
  const register = (email: string, ip: string) =>
    t.request("POST", "/v1/auth/register", { email, password }, from(ip));

  test("successful registrations count; a refused one records nothing; other addresses go on", async () => {
    const ip = freshIp();
    const { max, windowMs } = limits.registrationsPerIp;
    for (let i = 0; i < max; i++)
      expect((await register(uniqueEmail("signup"), ip)).status).toBe(201);
    const refused = uniqueEmail("refused");
    expectTooMany(await register(refused, ip), windowMs / 1000);
    expect((await register(refused, freshIp())).status).toBe(201);
  });
});

test("a burst of 50 logins: health and a trigger answer while it lasts; the excess is told to retry", async () => {
  // Fifty accounts and addresses: no throttle applies, only the bound on hashing.
  const logins = Array.from({ length: 50 }, () =>
    t.request("POST", "/v1/auth/login", { email: uniqueEmail("burst"), password }, from(freshIp())),
  );
  let loginsDone = 0;
  for (const login of logins) void login.then(() => loginsDone++);
  const health = await t.request("GET", "/v1/health");
  const trigger = await t.request(
    "POST",
    "/v1/auth/password-reset/trigger",
    { email: uniqueEmail("bystander") },
    from(freshIp()),
  );
  const doneWhenAnswered = loginsDone;
  expect(health.status).toBe(200);
  expect(trigger.status).toBe(404);
  // They did not queue behind the hashing: the burst was still being worked through.
  expect(doneWhenAnswered).toBeLessThan(50);
  const statuses = (await Promise.all(logins)).map((r) => r.status);
  expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
  // Hashing is bounded: past the queue, logins are refused at once instead of piling up.
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
});

describe("lone surrogates", () => {
  const lone = "Surr0gate-Pass\uD800";
  const replaced = "Surr0gate-Pass\uFFFD";

  test("register and reset refuse a password with a lone surrogate", async () => {
    const res = await t.request("POST", "/v1/auth/register", {
      email: uniqueEmail("lone"),
      password: lone,
    });
    expect({ status: res.status, body: res.json }).toEqual({
      status: 400,
      body: { error: "invalid request body" },
    });
    const reset = await t.request("POST", "/v1/auth/password-reset/reset", {
      code: "AAAA-AAAA-AAAA-AAAA-AAAA",
      new_password: lone,
    });
    expect(reset.status).toBe(400);
  });

  test("a password ending in U+FFFD is not matched by one ending in a lone surrogate", async () => {
    const email = uniqueEmail("fffd");
    const created = await t.request(
      "POST",
      "/v1/auth/register",
      { email, password: replaced },
      from(freshIp()),
    );
    expect(created.status).toBe(201);
    const res = await t.request(
      "POST",
      "/v1/auth/login",
      { email, password: lone },
      from(freshIp()),
    );
    expect(res.status).toBe(401);
    const right = await t.request(
      "POST",
      "/v1/auth/login",
      { email, password: replaced },
      from(freshIp()),
    );
    expect(right.status).toBe(200);
  });
});
