/**
 * Helpers for the audit tests: an HTTP client over app.handle that keeps every body it received
 * (so a test can grep the audit answers for secrets), the audit API's calls, and one user's
 * whole reset timeline built through the public API.
 */
import { expect } from "bun:test";
import { sql } from "kysely";
import type { AuditEvent } from "../../src/audit/model";
import type { Db } from "../../src/db";
import { RESET_CODE_ALPHABET } from "../../src/password-reset/code";
import { codeOf, messagesTo } from "./e2e";
import type { FakeMailgun } from "./fake-mailgun";
import { appClient, type HttpAnswer, type Send } from "./http";
import { waitFor } from "./wait";

export { appClient, type HttpAnswer, type Send };

export interface AuditPageBody {
  events: AuditEvent[];
  next_after: number | null;
}

export const EVENT_KEYS = [
  "data",
  "metadata",
  "position",
  "recorded_at",
  "stream",
  "type",
  "version",
].sort();

/** The audit API, recording every body it answered into `seen`. */
export function auditApi(send: Send, token: string | undefined, seen: string[]) {
  const auth = (): Record<string, string> =>
    token === undefined ? {} : { authorization: `Bearer ${token}` };
  const record = (answer: HttpAnswer) => {
    seen.push(answer.text);
    return answer;
  };
  const api = {
    /** GET /v1/audit/events?<query> as is. */
    async get(query: string, headers: Record<string, string> = auth()): Promise<HttpAnswer> {
      return record(
        await send("GET", `/v1/audit/events${query ? `?${query}` : ""}`, undefined, headers),
      );
    },
    /** One 200 page; fails the test on any other answer. */
    async page(query: string): Promise<AuditPageBody> {
      const res = await api.get(query);
      expect({ query, status: res.status }).toEqual({ query, status: 200 });
      expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
      return res.json as AuditPageBody;
    },
    /** Every event for the query, following next_after with pages of 1000. */
    async all(query: string): Promise<AuditEvent[]> {
      const events: AuditEvent[] = [];
      let after: number | null = null;
      do {
        const page: AuditPageBody = await api.page(
          [query, "limit=1000", after === null ? "" : `after=${after}`].filter(Boolean).join("&"),
        );
        events.push(...page.events);
        after = page.next_after;
      } while (after !== null);
      return events;
    },
    async erase(userId: string, headers: Record<string, string> = auth()): Promise<HttpAnswer> {
      return record(
        await send("DELETE", `/v1/audit/users/${userId}/personal-data`, undefined, headers),
      );
    },
  };
  return api;
}

/** Where one step of the timeline came from. */
export interface Client {
  ip: string;
  userAgent: string;
  requestId: string;
}

export interface Timeline {
  userId: string;
  email: string;
  password: string;
  newPassword: string;
  /** The code as the email showed it. */
  code: string;
  wrongCode: string;
  clients: {
    register: Client;
    login: Client;
    trigger: Client;
    wrongReset: Client;
    reset: Client;
    secondLogin: Client;
  };
  /** An instant strictly between the trigger's events and the wrong code's. */
  afterTrigger: Date;
  /** An instant strictly between the password-changed notice and the second login. */
  beforeSecondLogin: Date;
}

export const TIMELINE_TYPES = [
  "UserRegistered",
  "UserLoggedIn",
  "PasswordResetRequested",
  "PasswordResetEmailSent",
  "PasswordResetCodeRejected",
  "PasswordResetCompleted",
  "PasswordChanged",
  // The reset ends the first login's session.
  "SessionEnded",
  "PasswordChangedNoticeSent",
  "UserLoggedIn",
];

const headersOf = (client: Client) => ({
  "x-forwarded-for": client.ip,
  "user-agent": client.userAgent,
  "x-request-id": client.requestId,
});

/**
 * An instant no event shares: the clock moves on a few milliseconds before and after it, so an
 * event recorded before the call is earlier and one recorded after it is later (PostgreSQL keeps
 * microseconds, the API milliseconds). Polls the clock; nothing else is awaited.
 */
export async function clockMark(): Promise<Date> {
  const start = Date.now();
  await waitFor(() => Date.now() >= start + 3, { intervalMs: 1, what: "the clock" });
  const mark = new Date();
  await waitFor(() => Date.now() >= mark.getTime() + 3, { intervalMs: 1, what: "the clock" });
  return mark;
}

/** A well-formed code that is not `code`: its last character changed. */
export function otherCode(code: string): string {
  const last = code.at(-1) ?? "0";
  const replacement = [...RESET_CODE_ALPHABET].find((c) => c !== last) ?? "0";
  return `${code.slice(0, -1)}${replacement}`;
}

/** Waits until the stream holds an event of that type; returns how many there are. */
export async function waitForEvent(db: Db, streamId: string, type: string): Promise<number> {
  return waitFor(
    async () => {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from events where stream_id = ${streamId} and type = ${type}`.execute(
        db,
      );
      const n = Number(rows[0]?.n ?? 0);
      return n > 0 ? n : false;
    },
    { what: `${type} in ${streamId}` },
  );
}

/**
 * Waits until every event is visible to the audit, which shows only transactions below the
 * oldest one running in the cluster (a busy shared server can hold that back for a while).
 */
export async function waitForAuditHorizon(db: Db): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await sql<{ visible: boolean }>`
        select pg_snapshot_xmin(pg_current_snapshot()) > max(transaction_id) as visible
        from events`.execute(db);
      return rows[0]?.visible === true;
    },
    { what: "every event to be visible to the audit" },
  );
}

/**
 * One user's history through the HTTP API: register, login, trigger (code from the fake's
 * email), a wrong code with the email, the right code, the password-changed notice, login again.
 * Each step from its own address, user agent and request id.
 */
export async function buildTimeline(
  send: Send,
  fake: FakeMailgun,
  db: Db,
  email: string,
  /** Names the steps' request ids and user agents; one per timeline. */
  tag: string,
  /** The first three octets of the steps' client addresses, e.g. "198.51.100". */
  ipPrefix: string,
): Promise<Timeline> {
  const password = "Audit-Passw0rd!1";
  const newPassword = "N3w-Audit-Passw0rd#2";
  let n = 0;
  const client = (step: string): Client => {
    n += 1;
    return {
      ip: `${ipPrefix}.${n}`,
      userAgent: `AuditTest/${n}.0 (${tag}; ${step})`,
      requestId: `${tag}-${step}`,
    };
  };
  const clients = {
    register: client("register"),
    login: client("login"),
    trigger: client("trigger"),
    wrongReset: client("wrong-reset"),
    reset: client("reset"),
    secondLogin: client("second-login"),
  };
  const expectStatus = (step: string, res: HttpAnswer, status: number) =>
    expect({ step, status: res.status, body: res.json }).toMatchObject({ step, status });

  const registered = await send(
    "POST",
    "/v1/auth/register",
    { email, password },
    headersOf(clients.register),
  );
  expectStatus("register", registered, 201);
  const userId = (registered.json as { user: { id: string } }).user.id;

  const login = { email, password };
  expectStatus("login", await send("POST", "/v1/auth/login", login, headersOf(clients.login)), 200);

  const triggered = await send(
    "POST",
    "/v1/auth/password-reset/trigger",
    { email },
    headersOf(clients.trigger),
  );
  expectStatus("trigger", triggered, 200);
  // 200 means the provider accepted the message: it is already there.
  const [message] = messagesTo(fake, email);
  if (!message) throw new Error(`no reset email to ${email}`);
  const code = codeOf(message);
  const wrongCode = otherCode(code);

  const afterTrigger = await clockMark();

  const rejected = await send(
    "POST",
    "/v1/auth/password-reset/reset",
    { code: wrongCode, new_password: newPassword, email },
    headersOf(clients.wrongReset),
  );
  expectStatus("wrong reset", rejected, 400);
  expect(rejected.json).toEqual({ error: "invalid or expired password reset code" });

  const reset = await send(
    "POST",
    "/v1/auth/password-reset/reset",
    { code, new_password: newPassword },
    headersOf(clients.reset),
  );
  expectStatus("reset", reset, 200);
  expect(reset.json).toEqual({ message: "password reset successfully", email });

  // The notice is sent by a subscriber; waiting for its event keeps the history's order fixed.
  await fake.waitFor(() => messagesTo(fake, email).length >= 2, 10_000);
  await waitForEvent(db, `user-${userId}`, "PasswordChangedNoticeSent");

  const beforeSecondLogin = await clockMark();
  const again = { email, password: newPassword };
  expectStatus(
    "second login",
    await send("POST", "/v1/auth/login", again, headersOf(clients.secondLogin)),
    200,
  );

  return {
    userId,
    email,
    password,
    newPassword,
    code,
    wrongCode,
    clients,
    afterTrigger,
    beforeSecondLogin,
  };
}

/** Every string that must never appear in an audit answer for this timeline. */
export function secretsOf(timeline: Timeline, auditToken: string): string[] {
  const compact = timeline.code.replaceAll("-", "");
  return [
    timeline.code,
    compact,
    timeline.code.toLowerCase(),
    compact.toLowerCase(),
    timeline.password,
    timeline.newPassword,
    auditToken,
    "codeHash",
    "sealedCode",
    "sealedPasswordHash",
    "$argon2",
    "sealed:v1:",
  ];
}

/** The strings from `needles` found in any of the bodies, with where they were found. */
export function leaks(bodies: readonly string[], needles: readonly string[]) {
  const found: { needle: string; body: number }[] = [];
  bodies.forEach((body, index) => {
    for (const needle of needles) if (body.includes(needle)) found.push({ needle, body: index });
  });
  return found;
}
