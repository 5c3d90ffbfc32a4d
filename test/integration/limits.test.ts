/**
 * The README states the limits exactly as enforced (README: Security): this file
 * reads the README's limits table and measures every row against the running service — as many
 * allowed as stated, then 429 with a Retry-After within the stated window.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatResetCode } from "../../projections/emails/code-format";
import { generateResetCode } from "../../src/password-reset/code";
import { limits } from "../../src/rate-limits/gcra";
import { freshIp, uniqueEmail } from "../support/random";
import { useRuntime } from "../support/runtime";

type Row = { what: string; per: string; limit: string };

/** The rows of the README's limits table, as written. */
function readmeLimits(): Row[] {
  const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
  const lines = readme.split("\n");
  const header = lines.findIndex((l) => l.startsWith("| what is limited |"));
  expect(header).toBeGreaterThan(0);
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const [what, per, limit] = line
      .split("|")
      .slice(1, -1)
      .map((c) => c.trim());
    rows.push({ what: what ?? "", per: per ?? "", limit: limit ?? "" });
  }
  return rows;
}

/** "N in any M minutes" → { max: N, windowMs }; "N at once, then 1 a minute" → burst. */
function parse(limit: string): { max: number; windowMs: number } {
  const window = /^(\d+) in any (\d+) minutes/.exec(limit);
  if (window) return { max: Number(window[1]), windowMs: Number(window[2]) * 60_000 };
  const burst = /^(\d+) at once, then 1 a minute/.exec(limit);
  if (burst) return { max: Number(burst[1]), windowMs: 60_000 };
  throw new Error(`unreadable limit in the README: ${limit}`);
}

const password = "L1mits-Passw0rd!";
const auditToken = randomBytes(32).toString("base64");
const t = useRuntime({ TRUST_PROXY: "1", AUDIT_TOKEN: auditToken });

const from = (ip: string) => ({ "x-forwarded-for": ip });
const trigger = (email: string, ip: string) =>
  t.request("POST", "/v1/auth/password-reset/trigger", { email }, from(ip));
const login = (email: string, pass: string, ip: string) =>
  t.request("POST", "/v1/auth/login", { email, password: pass }, from(ip));

/** `max` attempts answered `allowed`, then 429 with a Retry-After inside the window. */
async function measure(
  max: number,
  windowMs: number,
  allowed: number,
  attempt: (i: number) => Promise<{ status: number; headers: Headers }>,
) {
  for (let i = 0; i < max; i++) {
    expect({ attempt: i + 1, status: (await attempt(i)).status }).toEqual({
      attempt: i + 1,
      status: allowed,
    });
  }
  const refused = await attempt(max);
  expect({ attempt: max + 1, status: refused.status }).toEqual({ attempt: max + 1, status: 429 });
  const retryAfter = Number(refused.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(windowMs / 1000);
  return retryAfter;
}

const measurements: Record<string, (max: number, windowMs: number) => Promise<void>> = {
  "reset triggers / email and client IP": async (max, windowMs) => {
    const email = uniqueEmail("burst");
    const ip = freshIp();
    expect({ max, windowMs }).toEqual({
      max: limits.triggerPerEmail.burst,
      windowMs: limits.triggerPerEmail.intervalMs,
    });
    await measure(max, windowMs, 404, () => trigger(email, ip));
  },
  "reset triggers / email, all client IPs": async (max, windowMs) => {
    expect({ max, windowMs }).toEqual(limits.triggerPerEmailHourly);
    const email = uniqueEmail("hourly");
    const { burst } = limits.triggerPerEmail;
    const ips = Array.from({ length: Math.ceil(max / burst) }, freshIp);
    let allowed = 0;
    for (const ip of ips) {
      for (let i = 0; i < burst && allowed < max; i++, allowed++) {
        expect((await trigger(email, ip)).status).toBe(404);
      }
    }
    // The cap: a client that already tried this email in the hour is refused...
    const last = ips.at(-1) as string;
    const refused = await trigger(email, last);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(windowMs / 1000);
    // ...an address new to the email gets one, and only one.
    const newcomer = freshIp();
    expect((await trigger(email, newcomer)).status).toBe(404);
    expect((await trigger(email, newcomer)).status).toBe(429);
  },
  "reset triggers / client IP": async (max, windowMs) => {
    expect({ max, windowMs }).toEqual(limits.triggerPerIp);
    const ip = freshIp();
    const retryAfter = await measure(max, windowMs, 404, () => trigger(uniqueEmail("ip"), ip));
    // A window, not a refilling bucket: the wait is the rest of the hour, not one refill.
    expect(retryAfter).toBeGreaterThan(windowMs / 1000 - 120);
  },
  "failed reset codes / client IP": async (max, windowMs) => {
    expect({ max, windowMs }).toEqual(limits.failedCodesPerIp);
    const ip = freshIp();
    const retryAfter = await measure(max, windowMs, 400, () =>
      t.request(
        "POST",
        "/v1/auth/password-reset/reset",
        { code: formatResetCode(generateResetCode()), new_password: password },
        from(ip),
      ),
    );
    expect(retryAfter).toBeGreaterThan(windowMs / 1000 - 120);
  },
  "failed logins / account (email)": async (max, windowMs) => {
    expect({ max, windowMs }).toEqual(limits.failedLoginsPerAccount);
    const email = uniqueEmail("account");
    expect(
      (await t.request("POST", "/v1/auth/register", { email, password }, from(freshIp()))).status,
    ).toBe(201);
    await measure(max, windowMs, 401, (i) =>
      i < max ? login(email, `Wr0ng-${i}-Passw0rd!`, freshIp()) : login(email, password, freshIp()),
    );
  },
  "failed logins presenting a device token of the account / device token": async (
    max,
    windowMs,
  ) => {
    expect({ max, windowMs }).toEqual(limits.failedLoginsPerDevice);
    const email = uniqueEmail("device");
    expect(
      (await t.request("POST", "/v1/auth/register", { email, password }, from(freshIp()))).status,
    ).toBe(201);
    const first = await login(email, password, freshIp());
    const device = (first.json as { device_token: string }).device_token;
    await measure(max, windowMs, 401, (i) =>
      t.request(
        "POST",
        "/v1/auth/login",
        { email, password: i < max ? `Wr0ng-${i}-Passw0rd!` : password, device_token: device },
        from(freshIp()),
      ),
    );
  },
  "failed logins and registrations of a taken email / client IP": async (max, windowMs) => {
    expect({ max, windowMs }).toEqual(limits.failedAuthPerIp);
    const ip = freshIp();
    await measure(max, windowMs, 401, () => login(uniqueEmail("stuffing"), password, ip));
  },
  "registrations / client IP": async (max, windowMs) => {
    expect({ max, windowMs }).toEqual(limits.registrationsPerIp);
    const ip = freshIp();
    const retryAfter = await measure(max, windowMs, 201, () =>
      t.request("POST", "/v1/auth/register", { email: uniqueEmail("signup"), password }, from(ip)),
    );
    expect(retryAfter).toBeGreaterThan(windowMs / 1000 - 120);
  },
  "failed audit authentications / client IP": async (max, windowMs) => {
    expect({ max, windowMs }).toEqual(limits.failedAuditAuthPerIp);
    const ip = freshIp();
    // Past the limit even the right token is refused until the window allows.
    const retryAfter = await measure(max, windowMs, 401, (i) =>
      t.request("GET", "/v1/audit/events?limit=1", undefined, {
        ...from(ip),
        authorization: `Bearer ${i < max ? `${auditToken}-${i}` : auditToken}`,
      }),
    );
    expect(retryAfter).toBeGreaterThan(windowMs / 1000 - 120);
  },
};

describe("the README's limits table, measured", () => {
  const rows = readmeLimits();

  test("every row has a measurement, and every limit a row", () => {
    expect(rows.map((r) => `${r.what} / ${r.per}`).sort()).toEqual(
      Object.keys(measurements).sort(),
    );
  });

  for (const row of rows) {
    const name = `${row.what} / ${row.per}`;
    test(`${name}: ${row.limit}`, async () => {
      const run = measurements[name];
      if (!run) throw new Error(`no measurement for the README row "${name}"`);
      const { max, windowMs } = parse(row.limit);
      await run(max, windowMs);
    });
  }
});
