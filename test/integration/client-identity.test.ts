/**
 * Who is asking (README: Configuration, Security): the client address behind N
 * trusted proxies is counted from the right of X-Forwarded-For, so entries a client writes itself
 * neither dodge the per-IP limit nor land in the log; request ids are the service's own, the
 * client's X-Request-Id kept apart; API answers are not cacheable.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { clientIpOf } from "../../src/http/request";
import { mailgunEnv } from "../support/fake-mailgun";
import { useFakeMailgun } from "../support/fixture";
import { uniqueEmail } from "../support/random";
import { createTestRuntime, type TestRuntime } from "../support/runtime";

const TRIGGER = "/v1/auth/password-reset/trigger";
const password = "Sp00f-Passw0rd!";

const runtimes: TestRuntime[] = [];
// Declared first, so the runtimes close before the fake stops.
afterAll(async () => {
  await Promise.allSettled(runtimes.map((rt) => rt.close()));
});
const fake = useFakeMailgun();
const mailEnv = () => ({
  ...mailgunEnv(fake),
});
async function runtime(env: Record<string, string>) {
  const rt = await createTestRuntime({ ...mailEnv(), ...env });
  runtimes.push(rt);
  return rt;
}

describe("TRUST_PROXY: trusted hops counted from the right", () => {
  const at = (forwarded: string | undefined) =>
    new Request("http://localhost/", {
      headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded },
    });

  test("0 hops: the socket's address, whatever the header says", () => {
    expect(clientIpOf(at("203.0.113.7"), null, 0)).toBe("unknown");
  });

  test("1 hop: the entry the proxy appended, not the client's own leftmost ones", () => {
    expect(clientIpOf(at("6.6.6.6, 203.0.113.7"), null, 1)).toBe("203.0.113.7");
    expect(clientIpOf(at("6.6.6.6,7.7.7.7 , 203.0.113.7"), null, 1)).toBe("203.0.113.7");
    expect(clientIpOf(at("203.0.113.7"), null, 1)).toBe("203.0.113.7");
  });

  test("2 hops: the entry the outer proxy appended; too few entries fall back to the socket", () => {
    expect(clientIpOf(at("6.6.6.6, 203.0.113.7, 10.0.0.2"), null, 2)).toBe("203.0.113.7");
    expect(clientIpOf(at("203.0.113.7, 10.0.0.2"), null, 2)).toBe("203.0.113.7");
    expect(clientIpOf(at("10.0.0.2"), null, 2)).toBe("unknown");
    expect(clientIpOf(at(undefined), null, 2)).toBe("unknown");
  });

  for (const [hops, suffix] of [
    ["1", ""],
    ["2", ", 10.0.0.2"],
  ] as const) {
    test(`${hops} trusted hop(s): spoofed leftmost entries do not escape the per-IP limit`, async () => {
      const rt = await runtime({ TRUST_PROXY: hops });
      const real = "203.0.113.50";
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        const spoof = `192.0.2.${i + 1}`;
        const res = await rt.request(
          "POST",
          TRIGGER,
          { email: uniqueEmail("spoof") },
          { "x-forwarded-for": `${spoof}, ${real}${suffix}` },
        );
        statuses.push(res.status);
      }
      // Unknown emails get 404 until the address's budget is spent, then 429.
      expect(statuses.filter((s) => s === 404).length).toBeLessThanOrEqual(30);
      expect(statuses.at(-1)).toBe(429);
    });
  }

  test("the log records the address the trusted proxy saw", async () => {
    const rt = await runtime({ TRUST_PROXY: "1" });
    const email = uniqueEmail("logged-ip");
    expect((await rt.request("POST", "/v1/auth/register", { email, password })).status).toBe(201);
    const res = await rt.request(
      "POST",
      "/v1/auth/login",
      { email, password },
      { "x-forwarded-for": "6.6.6.6, 203.0.113.77" },
    );
    expect(res.status).toBe(200);
    const { rows } = await sql<{ data: { sealedIp: string; userId: string } }>`
      select data from events where type = 'UserLoggedIn' order by global_position desc limit 1`.execute(
      rt.runtime.db,
    );
    const row = rows[0];
    if (!row) throw new Error("no UserLoggedIn event");
    const ip = await rt.runtime.dataKeys.unseal(row.data.userId, row.data.sealedIp);
    expect(ip).toBe("203.0.113.77");
  });
});

describe("request ids and caching", () => {
  test("the service makes the request and correlation ids; the client's id is kept apart", async () => {
    const rt = await runtime({ TRUST_PROXY: "1" });
    const email = uniqueEmail("ids");
    const chosen = "victims-trigger-id";
    const res = await rt.request(
      "POST",
      "/v1/auth/register",
      { email, password },
      { "x-request-id": chosen },
    );
    expect(res.status).toBe(201);
    const given = res.headers.get("x-request-id") ?? "";
    expect(given).toMatch(/^[0-9a-f-]{36}$/);
    expect(given).not.toBe(chosen);
    const { rows } = await sql<{ metadata: Record<string, string> }>`
      select metadata from events where type = 'UserRegistered' order by global_position desc limit 1`.execute(
      rt.runtime.db,
    );
    const metadata = rows[0]?.metadata ?? {};
    expect(metadata.requestId).toBe(given);
    expect(metadata.correlationId).toBe(given);
    expect(metadata.clientRequestId).toBe(chosen);
  });

  test("login, me and audit answers say Cache-Control: no-store", async () => {
    const rt = await runtime({ AUDIT_TOKEN: "audit-token-0123456789" });
    const email = uniqueEmail("cache");
    await rt.request("POST", "/v1/auth/register", { email, password });
    const login = await rt.request("POST", "/v1/auth/login", { email, password });
    expect(login.status).toBe(200);
    const token = (login.json as { token: string }).token;
    const me = await rt.request("GET", "/v1/auth/me", undefined, {
      authorization: `Bearer ${token}`,
    });
    expect(me.status).toBe(200);
    const audit = await rt.request("GET", "/v1/audit/events?limit=1", undefined, {
      authorization: "Bearer audit-token-0123456789",
    });
    expect(audit.status).toBe(200);
    for (const answer of [login, me, audit]) {
      expect(answer.headers.get("cache-control")).toBe("no-store");
    }
  });
});
