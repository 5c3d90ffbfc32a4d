/**
 * Scoped, named audit tokens (README: Configuration, Rotating keys), in-process through
 * app.handle: several tokens valid at once, `read` reads everything and is refused erasure
 * with 403, `erase` erases and PersonalDataErased names it (never the token), AUDIT_TOKEN beside
 * them is the token named `default`, and the limit on failed tokens holds across all of them.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { AuditEvent } from "../../src/audit/model";
import { limits } from "../../src/rate-limits/gcra";
import { auditApi, type HttpAnswer, leaks, type Send, waitForAuditHorizon } from "../support/audit";
import { freshIp, uniqueEmail } from "../support/random";
import { useRuntime } from "../support/runtime";

const secret = () => randomBytes(24).toString("base64url");
const READER = secret();
const OFFICER = secret();
const OFFICER_NEXT = secret();
const LEGACY = secret();
const password = "Tokens-Passw0rd!";

const t = useRuntime({
  AUDIT_TOKENS: ` reader:read:${READER}, officer:erase:${OFFICER},officer-next:erase:${OFFICER_NEXT}`,
  AUDIT_TOKEN: LEGACY,
  TRUST_PROXY: "true",
});
let send: Send;
/** Every body the audit API answered here: none may hold a token. */
const seen: string[] = [];

beforeAll(() => {
  send = t.request;
});

/** The audit API as one token from its own client address. */
const as = (token: string, ip = freshIp()) => {
  const api = auditApi(send, token, seen);
  const headers = { authorization: `Bearer ${token}`, "x-forwarded-for": ip };
  return {
    ...api,
    get: (path: string) => record(send("GET", path, undefined, headers)),
    erase: (userId: string) => api.erase(userId, headers),
  };
};
const record = async (answer: Promise<HttpAnswer>) => {
  const res = await answer;
  seen.push(res.text);
  return res;
};

async function register(): Promise<string> {
  const email = uniqueEmail("tokens");
  const res = await send("POST", "/v1/auth/register", { email, password });
  expect(res.status).toBe(201);
  return (res.json as { user: { id: string } }).user.id;
}

const erasures = async (userId: string) =>
  (
    await sql<{ data: { userId: string; erasedBy?: string } }>`
      select data from events where stream_id = ${`user-${userId}`} and type = 'PersonalDataErased'`.execute(
      t.runtime.db,
    )
  ).rows.map((r) => r.data);

const hasDataKey = async (userId: string) =>
  (await sql`select 1 from data_keys where subject_id = ${userId}::uuid`.execute(t.runtime.db)).rows
    .length === 1;

/** The PersonalDataErased the audit API shows for a user. */
async function shownErasure(userId: string): Promise<AuditEvent | undefined> {
  await waitForAuditHorizon(t.runtime.db);
  const events = await as(READER).all(`user_id=${userId}&type=PersonalDataErased`);
  return events[0];
}

describe("a read token", () => {
  test("reads events, exports and stats", async () => {
    const userId = await register();
    await waitForAuditHorizon(t.runtime.db);
    const reader = as(READER);
    const events = await reader.all(`user_id=${userId}`);
    expect(events.map((e) => e.type)).toEqual(["UserRegistered"]);
    const exported = await reader.get(`/v1/audit/events?user_id=${userId}&format=ndjson`);
    expect(exported.status).toBe(200);
    expect(exported.text.trim().split("\n")).toHaveLength(1);
    const stats = await reader.get("/v1/audit/stats?bucket=day");
    expect(stats.status).toBe(200);
    expect((stats.json as { bucket: string }).bucket).toBe("day");
  });

  test("erasing: 403 forbidden, nothing erased, and it never counts as a failed token", async () => {
    const userId = await register();
    // From one address, more refusals than the failed-token limit allows: all 403, none 429.
    const reader = as(READER, "198.18.9.1");
    for (let i = 0; i <= limits.failedAuditAuthPerIp.max; i++) {
      const res = await reader.erase(userId);
      expect({ status: res.status, body: res.json }).toEqual({
        status: 403,
        body: { error: "forbidden" },
      });
    }
    // 403 before the id is even looked at: a read token learns nothing of which users exist.
    expect((await reader.erase("not-a-uuid")).status).toBe(403);
    expect(await erasures(userId)).toEqual([]);
    expect(await hasDataKey(userId)).toBe(true);
    expect((await reader.get("/v1/audit/events?limit=1")).status).toBe(200);
  });
});

describe("an erase token", () => {
  test("erases, and PersonalDataErased names the token, never the token itself", async () => {
    const userId = await register();
    const res = await as(OFFICER).erase(userId);
    expect(res.status).toBe(204);
    expect(await erasures(userId)).toEqual([{ userId, erasedBy: "officer" }]);
    expect(await hasDataKey(userId)).toBe(false);
    const shown = await shownErasure(userId);
    expect(shown?.data).toEqual({ userId, erasedBy: "officer" });
  });

  test("two erase tokens valid at once (a rotation under way): each works and is named", async () => {
    const [first, second] = [await register(), await register()];
    expect((await as(OFFICER).erase(first)).status).toBe(204);
    expect((await as(OFFICER_NEXT).erase(second)).status).toBe(204);
    expect(await erasures(first)).toEqual([{ userId: first, erasedBy: "officer" }]);
    expect(await erasures(second)).toEqual([{ userId: second, erasedBy: "officer-next" }]);
    expect((await as(OFFICER_NEXT).get("/v1/audit/stats")).status).toBe(200);
  });

  test("AUDIT_TOKEN beside AUDIT_TOKENS is the token named default, with both scopes", async () => {
    const userId = await register();
    const legacy = as(LEGACY);
    expect((await legacy.get("/v1/audit/events?limit=1")).status).toBe(200);
    expect((await legacy.erase(userId)).status).toBe(204);
    expect((await shownErasure(userId))?.data).toEqual({ userId, erasedBy: "default" });
  });
});

describe("wrong tokens", () => {
  test("a token of none of the names, or a name instead of a token: 401", async () => {
    for (const wrong of [secret(), "officer", `officer:erase:${OFFICER}`, `${READER}x`]) {
      const res = await as(wrong).get("/v1/audit/events?limit=1");
      expect({ status: res.status, body: res.json }).toEqual({
        status: 401,
        body: { error: "unauthorized" },
      });
    }
  });

  test("failed tokens stay limited per client address: then 429 for every token, read or erase", async () => {
    const ip = "198.18.9.2";
    const { max } = limits.failedAuditAuthPerIp;
    for (let i = 0; i < max; i++) {
      expect((await as(`${secret()}-${i}`, ip).get("/v1/audit/events?limit=1")).status).toBe(401);
    }
    for (const token of [READER, OFFICER, OFFICER_NEXT, LEGACY]) {
      expect((await as(token, ip).get("/v1/audit/events?limit=1")).status).toBe(429);
    }
    expect((await as(READER).get("/v1/audit/events?limit=1")).status).toBe(200);
  });
});

test("no answer holds a token", () => {
  expect(seen.length).toBeGreaterThan(20);
  expect(leaks(seen, [READER, OFFICER, OFFICER_NEXT, LEGACY])).toEqual([]);
});
