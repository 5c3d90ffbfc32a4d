/**
 * Sessions a person controls (README: API, Security "Sessions a person controls"): logout ends
 * the presented session, the list shows the caller's live sessions only, one can be ended from
 * another, an unused session ends after SESSION_IDLE_SECONDS, and every start and end is an
 * event in the user's stream that the audit API shows, its client unsealed.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes, randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { SessionView } from "../../src/accounts/sessions";
import type { AuditEvent } from "../../src/audit/model";
import { auditApi, waitForAuditHorizon } from "../support/audit";
import { freshIp, lastCodeTo, uniqueEmail } from "../support/e2e";
import { mailgunEnv } from "../support/fake-mailgun";
import type { HttpAnswer } from "../support/http";
import { runtimeWithFakeMailgun, type TestRuntime, useRuntime } from "../support/runtime";
import { waitFor } from "../support/wait";

const AUDIT_TOKEN = "sessions-test-audit-token-0123456789";
const IDLE_SECONDS = 3;
const password = "Sess10ns-Passw0rd!";

const env = { TRUST_PROXY: "1", AUDIT_TOKEN };
const { t, fake } = runtimeWithFakeMailgun(env);
/** The same service with a short idle timeout. */
const idle = useRuntime(() => ({
  ...mailgunEnv(fake),
  ...env,
  SESSION_IDLE_SECONDS: String(IDLE_SECONDS),
}));

interface Client {
  ip: string;
  userAgent: string;
}
const newClient = (name: string): Client => ({
  ip: freshIp(),
  userAgent: `SessionsTest/1.0 (${name})`,
});
const headersOf = (client: Client, token?: string): Record<string, string> => ({
  "x-forwarded-for": client.ip,
  "user-agent": client.userAgent,
  ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
});

type Session = { id: string; token: string; client: Client };

async function registered(rt: TestRuntime, tag: string) {
  const email = uniqueEmail(tag);
  const res = await rt.request(
    "POST",
    "/v1/auth/register",
    { email, password },
    headersOf(newClient("register")),
  );
  expect(res.status).toBe(201);
  return { email, userId: (res.json as { user: { id: string } }).user.id };
}

/** Logs in from a new client; the session's id is the one the list shows as current. */
async function loggedIn(
  rt: TestRuntime,
  email: string,
  name: string,
  pass = password,
): Promise<Session> {
  const client = newClient(name);
  const res = await rt.request(
    "POST",
    "/v1/auth/login",
    { email, password: pass },
    headersOf(client),
  );
  expect(res.status).toBe(200);
  const token = (res.json as { token: string }).token;
  const current = (await listOf(rt, token)).find((s) => s.current);
  if (!current) throw new Error("no current session in the list");
  return { id: current.id, token, client };
}

const me = (rt: TestRuntime, s: Session) =>
  rt.request("GET", "/v1/auth/me", undefined, headersOf(s.client, s.token));
const list = (rt: TestRuntime, s: Pick<Session, "token"> & { client?: Client }) =>
  rt.request(
    "GET",
    "/v1/auth/sessions",
    undefined,
    headersOf(s.client ?? newClient("list"), s.token),
  );
async function listOf(rt: TestRuntime, token: string): Promise<SessionView[]> {
  const res = await list(rt, { token });
  expect(res.status).toBe(200);
  return (res.json as { sessions: SessionView[] }).sessions;
}
const end = (rt: TestRuntime, s: Session, id: string) =>
  rt.request("DELETE", `/v1/auth/sessions/${id}`, undefined, headersOf(s.client, s.token));
const logout = (rt: TestRuntime, s: Session) =>
  rt.request("POST", "/v1/auth/logout", undefined, headersOf(s.client, s.token));

const expectError = (res: HttpAnswer, status: number, error: string) =>
  expect({ status: res.status, body: res.json }).toEqual({ status, body: { error } });

/** The user's session events as the audit API shows them. */
async function sessionEvents(rt: TestRuntime, userId: string): Promise<AuditEvent[]> {
  await waitForAuditHorizon(rt.runtime.db);
  return auditApi(rt.request, AUDIT_TOKEN, []).all(
    `user_id=${userId}&type=UserLoggedIn&type=SessionEnded`,
  );
}
const endsOf = (events: AuditEvent[]) => events.filter((e) => e.type === "SessionEnded");

describe("logout", () => {
  test("ends the presented session only: 204, then 401 for it; the other session goes on", async () => {
    const { email, userId } = await registered(t, "logout");
    const leaving = await loggedIn(t, email, "leaving");
    const staying = await loggedIn(t, email, "staying");
    const res = await logout(t, leaving);
    expect({ status: res.status, body: res.text }).toEqual({ status: 204, body: "" });
    expectError(await me(t, leaving), 401, "unauthorized");
    expectError(await logout(t, leaving), 401, "unauthorized");
    expect((await me(t, staying)).status).toBe(200);
    expect((await listOf(t, staying.token)).map((s) => s.id)).toEqual([staying.id]);

    const ends = endsOf(await sessionEvents(t, userId));
    expect(ends.map((e) => e.data)).toEqual([
      {
        userId,
        sessionId: leaving.id,
        reason: "logout",
        ip: leaving.client.ip,
        userAgent: leaving.client.userAgent,
      },
    ]);
  });

  test("without a session, or with an unknown token: 401", async () => {
    expectError(await t.request("POST", "/v1/auth/logout"), 401, "unauthorized");
    expectError(
      await t.request("POST", "/v1/auth/logout", undefined, {
        authorization: `Bearer ${randomBytes(32).toString("base64url")}`,
      }),
      401,
      "unauthorized",
    );
  });
});

describe("the list of one's sessions", () => {
  test("every field, the current one flagged, newest first; another user's sessions not shown", async () => {
    const alice = await registered(t, "alice");
    const bob = await registered(t, "bob");
    const first = await loggedIn(t, alice.email, "alice-laptop");
    const second = await loggedIn(t, alice.email, "alice-phone");
    const bobs = await loggedIn(t, bob.email, "bob-laptop");

    const res = await list(t, second);
    expect(res.status).toBe(200);
    const sessions = (res.json as { sessions: SessionView[] }).sessions;
    expect(sessions.map((s) => Object.keys(s).sort())).toEqual(
      Array(2).fill([
        "created_at",
        "current",
        "expires_at",
        "id",
        "ip",
        "last_used_at",
        "user_agent",
      ]),
    );
    expect(
      sessions.map(({ id, ip, user_agent, current }) => ({ id, ip, user_agent, current })),
    ).toEqual([
      { id: second.id, ip: second.client.ip, user_agent: second.client.userAgent, current: true },
      { id: first.id, ip: first.client.ip, user_agent: first.client.userAgent, current: false },
    ]);
    for (const s of sessions) {
      const created = Date.parse(s.created_at);
      expect(Date.parse(s.last_used_at)).toBeGreaterThanOrEqual(created);
      expect(Date.parse(s.expires_at) - created).toBe(24 * 3600_000);
    }
    expect(JSON.stringify(sessions)).not.toContain(bobs.id);
    // From the other session, the other one is current.
    expect((await listOf(t, first.token)).map((s) => [s.id, s.current])).toEqual([
      [second.id, false],
      [first.id, true],
    ]);
  });

  test("without a session: 401", async () => {
    expectError(await t.request("GET", "/v1/auth/sessions"), 401, "unauthorized");
  });
});

describe("ending one session", () => {
  test("from another session: 204, it is over, the list no longer shows it, the end is recorded with who ended it", async () => {
    const { email, userId } = await registered(t, "revoke");
    const lost = await loggedIn(t, email, "lost-phone");
    const mine = await loggedIn(t, email, "laptop");
    const res = await end(t, mine, lost.id);
    expect({ status: res.status, body: res.text }).toEqual({ status: 204, body: "" });
    expectError(await me(t, lost), 401, "unauthorized");
    expect((await listOf(t, mine.token)).map((s) => s.id)).toEqual([mine.id]);
    // Gone: ending it again is a 404.
    expectError(await end(t, mine, lost.id), 404, "session not found");

    const ends = endsOf(await sessionEvents(t, userId));
    expect(ends.map((e) => e.data)).toEqual([
      {
        userId,
        sessionId: lost.id,
        reason: "revoked",
        bySessionId: mine.id,
        ip: mine.client.ip,
        userAgent: mine.client.userAgent,
      },
    ]);
  });

  test("the current one too", async () => {
    const { email } = await registered(t, "self");
    const s = await loggedIn(t, email, "self");
    expect((await end(t, s, s.id)).status).toBe(204);
    expectError(await me(t, s), 401, "unauthorized");
  });

  test("another user's session or an unknown id: 404, and the session goes on; a malformed id: 400", async () => {
    const alice = await registered(t, "owner");
    const mallory = await registered(t, "mallory");
    const victim = await loggedIn(t, alice.email, "victim");
    const attacker = await loggedIn(t, mallory.email, "attacker");
    expectError(await end(t, attacker, victim.id), 404, "session not found");
    expectError(await end(t, attacker, randomUUID()), 404, "session not found");
    expect((await me(t, victim)).status).toBe(200);
    for (const bad of ["not-a-uuid", "1", `${victim.id}x`, "%27%20OR%201%3D1"]) {
      expectError(await end(t, attacker, bad), 400, "invalid session id");
    }
    expectError(await t.request("DELETE", `/v1/auth/sessions/${victim.id}`), 401, "unauthorized");
    expect((await me(t, victim)).status).toBe(200);
    expect(endsOf(await sessionEvents(t, alice.userId))).toEqual([]);
  });
});

describe(`the idle timeout (SESSION_IDLE_SECONDS=${IDLE_SECONDS})`, () => {
  test("a session unused that long is refused and its end recorded; one in use goes on", async () => {
    const { email, userId } = await registered(idle, "idle");
    const unused = await loggedIn(idle, email, "unused");
    const used = await loggedIn(idle, email, "used");
    expect((await me(idle, unused)).status).toBe(200);
    // The session in use watches the list, which shows live sessions only, until the unused
    // one drops out of it: its own use keeps it live meanwhile.
    await waitFor(async () => !(await listOf(idle, used.token)).some((s) => s.id === unused.id), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "the unused session to go idle",
    });
    expectError(await me(idle, unused), 401, "unauthorized");
    expectError(await list(idle, unused), 401, "unauthorized");
    expect((await me(idle, used)).status).toBe(200);

    const ends = endsOf(await sessionEvents(idle, userId));
    expect(ends.map((e) => ({ sessionId: e.data.sessionId, reason: e.data.reason }))).toEqual([
      { sessionId: unused.id, reason: "idle" },
    ]);
  });

  test("SESSION_IDLE_SECONDS defaults to 1800", () => {
    expect(t.runtime.config.sessionIdleSeconds).toBe(1800);
  });
});

describe("the user's stream holds every start and end", () => {
  test("login, logout, revoke and a password reset, with the audit API showing each", async () => {
    const { email, userId } = await registered(t, "stream");
    const a = await loggedIn(t, email, "a");
    const b = await loggedIn(t, email, "b");
    const c = await loggedIn(t, email, "c");
    expect((await logout(t, a)).status).toBe(204);
    expect((await end(t, b, c.id)).status).toBe(204);

    const trigger = await t.request(
      "POST",
      "/v1/auth/password-reset/trigger",
      { email },
      headersOf(newClient("trigger")),
    );
    expect(trigger.status).toBe(200);
    const reset = await t.request(
      "POST",
      "/v1/auth/password-reset/reset",
      { code: lastCodeTo(fake, email), new_password: "N3w-Sess10ns-Passw0rd!" },
      headersOf(newClient("reset")),
    );
    expect(reset.status).toBe(200);
    expectError(await me(t, b), 401, "unauthorized");

    const events = await sessionEvents(t, userId);
    expect(events.map((e) => [e.type, e.data.sessionId, e.data.reason])).toEqual([
      ["UserLoggedIn", a.id, undefined],
      ["UserLoggedIn", b.id, undefined],
      ["UserLoggedIn", c.id, undefined],
      ["SessionEnded", a.id, "logout"],
      ["SessionEnded", c.id, "revoked"],
      ["SessionEnded", b.id, "reset"],
    ]);
    const logins = events.filter((e) => e.type === "UserLoggedIn");
    expect(logins.map((e) => [e.data.ip, e.data.userAgent])).toEqual(
      [a, b, c].map((s) => [s.client.ip, s.client.userAgent]),
    );
    // The reset's end follows its PasswordChanged, in the same stream.
    const { rows } = await sql<{ type: string }>`
      select type from events where stream_id = ${`user-${userId}`} order by stream_version`.execute(
      t.runtime.db,
    );
    const types = rows.map((r) => r.type);
    expect(types.indexOf("SessionEnded", types.indexOf("PasswordChanged"))).toBe(
      types.indexOf("PasswordChanged") + 1,
    );
  });
});
