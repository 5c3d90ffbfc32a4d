/**
 * The owner always gets in (README: Security, "The owner always gets in"): strangers who trip
 * an account's failed-login limit lock out strangers, not the owner's devices. A login that
 * presents a device token from an earlier login of the account is limited per device; a device
 * that guesses wrong too often is locked on its own. Tokens are stored only as keyed hashes, and
 * a password reset or an erasure ends them.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { limits } from "../../src/rate-limits/gcra";
import { freshIp, lastCodeTo, uniqueEmail } from "../support/e2e";
import type { HttpAnswer } from "../support/http";
import { runtimeWithFakeMailgun } from "../support/runtime";

const AUDIT_TOKEN = "device-tokens-test-audit-token-0123";
const password = "Dev1ce-Passw0rd!";

const fixture = runtimeWithFakeMailgun({ TRUST_PROXY: "1", AUDIT_TOKEN });

const wrong = (i: number) => `Wr0ng-${i}-Passw0rd!`;

function login(email: string, pass: string, deviceToken?: string, ip = freshIp()) {
  const body =
    deviceToken === undefined
      ? { email, password: pass }
      : { email, password: pass, device_token: deviceToken };
  return fixture.t.request("POST", "/v1/auth/login", body, { "x-forwarded-for": ip });
}

async function registered(tag: string): Promise<{ email: string; userId: string }> {
  const email = uniqueEmail(tag);
  const res = await fixture.t.request(
    "POST",
    "/v1/auth/register",
    { email, password },
    { "x-forwarded-for": freshIp() },
  );
  expect(res.status).toBe(201);
  return { email, userId: (res.json as { user: { id: string } }).user.id };
}

/** A device token from a successful login (a new device). */
async function deviceOf(email: string, pass = password): Promise<string> {
  const res = await login(email, pass);
  expect(res.status).toBe(200);
  const token = (res.json as { device_token?: unknown }).device_token;
  expect(token).toEqual(expect.stringMatching(/^[A-Za-z0-9_-]{43}$/));
  return token as string;
}

function expectTooMany(res: HttpAnswer) {
  expect({ status: res.status, body: res.json }).toEqual({
    status: 429,
    body: { error: "too many requests" },
  });
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
}

/** Strangers spend the account's whole failed-login budget, from two addresses. */
async function strangersTrip(email: string) {
  const ips = [freshIp(), freshIp()];
  for (let i = 0; i < limits.failedLoginsPerAccount.max; i++) {
    expect((await login(email, wrong(i), undefined, ips[i % 2])).status).toBe(401);
  }
}

describe("strangers cannot lock the owner out", () => {
  test("after strangers trip the account's limit: a stranger gets 429, even with the right password; the owner's device gets 200", async () => {
    const { email } = await registered("victim");
    const device = await deviceOf(email);
    await strangersTrip(email);

    expectTooMany(await login(email, wrong(99)));
    expectTooMany(await login(email, password));
    const owner = await login(email, password, device);
    expect(owner.status).toBe(200);
    const body = owner.json as {
      token: string;
      expires_at: string;
      device_token: string;
      user: { email: string };
    };
    expect(Object.keys(body).sort()).toEqual(["device_token", "expires_at", "token", "user"]);
    expect(body.user.email).toBe(email);
    // The device keeps its token: the same one comes back, renewed.
    expect(body.device_token).toBe(device);
    const me = await fixture.t.request("GET", "/v1/auth/me", undefined, {
      authorization: `Bearer ${body.token}`,
    });
    expect(me.status).toBe(200);
  });

  test("a device token of another account, or an unknown or malformed one, is no device: the account's limit holds", async () => {
    const victim = await registered("victim2");
    const other = await registered("other");
    const othersDevice = await deviceOf(other.email);
    await strangersTrip(victim.email);
    for (const token of [
      othersDevice,
      randomBytes(32).toString("base64url"),
      "",
      "x".repeat(500),
    ]) {
      expectTooMany(await login(victim.email, password, token));
    }
    // The other account's owner is untouched.
    expect((await login(other.email, password, othersDevice)).status).toBe(200);
  });

  test("a device_token that is not a string: 400", async () => {
    const { email } = await registered("typed");
    for (const token of [123, null, ["x"], { a: 1 }, true]) {
      const res = await fixture.t.request("POST", "/v1/auth/login", {
        email,
        password,
        device_token: token,
      });
      expect({ status: res.status, body: res.json }).toEqual({
        status: 400,
        body: { error: "device_token must be a string" },
      });
    }
  });
});

describe("a device that guesses wrong is locked itself", () => {
  test(`${limits.failedLoginsPerDevice.max} wrong passwords with one device token: that device gets 429, another device of the owner still gets in`, async () => {
    const { email } = await registered("guessing");
    const stolen = await deviceOf(email);
    const other = await deviceOf(email);
    const { max, windowMs } = limits.failedLoginsPerDevice;
    for (let i = 0; i < max; i++) {
      const res = await login(email, wrong(i), stolen);
      expect({ attempt: i + 1, status: res.status }).toEqual({ attempt: i + 1, status: 401 });
    }
    const locked = await login(email, password, stolen);
    expectTooMany(locked);
    expect(Number(locked.headers.get("retry-after"))).toBeLessThanOrEqual(windowMs / 1000);
    expect((await login(email, password, other)).status).toBe(200);
    // The device's failures were its own: the account's limit was not spent, so a new device
    // (no token) gets in too.
    expect((await login(email, password)).status).toBe(200);
  });

  test("a success forgets the device's failures: the owner's own typos never add up to a lock", async () => {
    const { email } = await registered("typos");
    const device = await deviceOf(email);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < limits.failedLoginsPerDevice.max - 1; i++) {
        expect((await login(email, wrong(i), device)).status).toBe(401);
      }
      expect((await login(email, password, device)).status).toBe(200);
    }
  });
});

describe("device tokens at rest and at the end", () => {
  test("stored only as keyed hashes, bound to the user", async () => {
    const { email, userId } = await registered("stored");
    const device = await deviceOf(email);
    const { rows } = await sql<{ token_hash: string; user_id: string }>`
      select token_hash, user_id from device_tokens where user_id = ${userId}`.execute(
      fixture.t.runtime.db,
    );
    expect(rows.length).toBe(1);
    expect(rows[0]?.token_hash).not.toBe(device);
    const { rows: anywhere } = await sql<{ n: number }>`
      select count(*)::int as n from events where data::text like ${`%${device}%`}`.execute(
      fixture.t.runtime.db,
    );
    expect(anywhere[0]?.n).toBe(0);
  });

  test("a password reset ends them: the old device is a stranger again", async () => {
    const { email, userId } = await registered("reset");
    const device = await deviceOf(email);
    const trigger = await fixture.t.request(
      "POST",
      "/v1/auth/password-reset/trigger",
      { email },
      { "x-forwarded-for": freshIp() },
    );
    expect(trigger.status).toBe(200);
    const newPassword = "N3w-Dev1ce-Passw0rd!";
    const reset = await fixture.t.request(
      "POST",
      "/v1/auth/password-reset/reset",
      { code: lastCodeTo(fixture.fake, email), new_password: newPassword },
      { "x-forwarded-for": freshIp() },
    );
    expect(reset.status).toBe(200);
    expect(await deviceRows(userId)).toBe(0);
    // Its wrong guesses count against the account now, so strangers' limit locks it out too.
    await strangersTrip(email);
    expectTooMany(await login(email, newPassword, device));
  });

  test("an erasure forgets them and their failed-login windows", async () => {
    const { email, userId } = await registered("erased");
    const device = await deviceOf(email);
    expect((await login(email, wrong(1), device)).status).toBe(401);
    const { rows: windows } = await sql<{ n: number }>`
      select count(*)::int as n from rate_windows
      where key in (select 'login-device:' || device_id from device_tokens where user_id = ${userId})`.execute(
      fixture.t.runtime.db,
    );
    expect(windows[0]?.n).toBe(1);
    const { rows: ids } = await sql<{ device_id: string }>`
      select device_id from device_tokens where user_id = ${userId}`.execute(fixture.t.runtime.db);
    const erased = await fixture.t.request(
      "DELETE",
      `/v1/audit/users/${userId}/personal-data`,
      undefined,
      {
        authorization: `Bearer ${AUDIT_TOKEN}`,
      },
    );
    expect(erased.status).toBe(204);
    expect(await deviceRows(userId)).toBe(0);
    const { rows: left } = await sql<{ n: number }>`
      select count(*)::int as n from rate_windows where key = ${`login-device:${ids[0]?.device_id}`}`.execute(
      fixture.t.runtime.db,
    );
    expect(left[0]?.n).toBe(0);
  });
});

async function deviceRows(userId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    select count(*)::int as n from device_tokens where user_id = ${userId}`.execute(
    fixture.t.runtime.db,
  );
  return Number(rows[0]?.n ?? 0);
}
