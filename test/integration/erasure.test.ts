/**
 * Erasure leaves no path from the email to the history (README: Auditing): after
 * DELETE /v1/audit/users/{id}/personal-data no email= query reaches an event recorded before
 * it, the erased user's derived rows are gone, and the address registered again has only the
 * new account's history, by email and by user_id.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { AuditEvent } from "../../src/audit/model";
import { resetStreamId } from "../../src/password-reset/streams";
import { emailLookup } from "../../src/privacy";
import { limits } from "../../src/rate-limits/gcra";
import { auditApi, type Send, waitForAuditHorizon } from "../support/audit";
import { codeOf, freshIp, messagesTo, uniqueEmail } from "../support/e2e";
import { runtimeWithFakeMailgun } from "../support/runtime";
import { waitFor } from "../support/wait";

const TOKEN = `audit-${randomBytes(16).toString("hex")}`;
const EMAIL = "erase.me@example.com";
const OTHER = "keep.me@example.com";
const password = "Erase-Passw0rd!";
const q = encodeURIComponent;

const { t, fake } = runtimeWithFakeMailgun({ AUDIT_TOKEN: TOKEN, TRUST_PROXY: "true" });
let send: Send;
let api: ReturnType<typeof auditApi>;

beforeAll(() => {
  send = t.request;
  api = auditApi(send, TOKEN, []);
});

const post = (path: string, body: unknown) =>
  send("POST", path, body, { "x-forwarded-for": freshIp() });

async function register(email: string): Promise<string> {
  const res = await post("/v1/auth/register", { email, password });
  expect(res.status).toBe(201);
  return (res.json as { user: { id: string } }).user.id;
}

/** Triggers a reset that the provider accepts; returns the emailed code. */
async function emailedCode(email: string): Promise<string> {
  const before = messagesTo(fake, email).length;
  const res = await post("/v1/auth/password-reset/trigger", { email });
  expect(res.status).toBe(200);
  const message = messagesTo(fake, email)[before];
  if (!message) throw new Error(`no reset email to ${email}`);
  return codeOf(message);
}

const visible = () => waitForAuditHorizon(t.runtime.db);

const count = async (query: ReturnType<typeof sql<{ n: number }>>) =>
  Number((await query.execute(t.runtime.db)).rows[0]?.n ?? 0);

describe("erasure", () => {
  let erasedId: string;
  let otherId: string;
  let erasedStreams: string[];
  let erasurePosition: number;
  let liveCode: string;

  test("before: the address's history is found by email, with its account's derived rows", async () => {
    // An attempt while the address had no account yet, then the account's own history.
    expect((await post("/v1/auth/password-reset/trigger", { email: EMAIL })).status).toBe(404);
    erasedId = await register(EMAIL);
    otherId = await register(OTHER);
    expect((await post("/v1/auth/login", { email: EMAIL, password })).status).toBe(200);
    await emailedCode(EMAIL);
    liveCode = await emailedCode(EMAIL);
    await emailedCode(OTHER);
    // Limits kept per account (keyed by the user id or the email's lookup) end with it.
    const lookup = emailLookup(t.runtime.keyring, EMAIL);
    await sql`insert into rate_limits (key, tat) values
      (${`login-account:${lookup}`}, now() + interval '1 hour'),
      (${`per-user:${erasedId}`}, now() + interval '1 hour'),
      (${`per-user:${otherId}`}, now() + interval '1 hour')`.execute(t.runtime.db);

    await visible();
    const byEmail = await api.all(`email=${q(EMAIL)}`);
    expect(byEmail.map((e) => e.type)).toContain("PasswordResetEmailSent");
    expect(byEmail.some((e) => e.stream === `user-${erasedId}`)).toBe(true);
    erasedStreams = [...new Set((await api.all(`user_id=${erasedId}`)).map((e) => e.stream))];
    expect(erasedStreams).toHaveLength(2);
    expect(await count(sql`select count(*) as n from sessions where user_id = ${erasedId}`)).toBe(
      1,
    );
    expect(
      await count(sql`select count(*) as n from reset_codes where user_id = ${erasedId}`),
    ).toBe(2);
  });

  test("erase: an email= query reaches none of the events recorded before", async () => {
    expect((await api.erase(erasedId)).status).toBe(204);
    await visible();
    const [erased] = (await api.all(`user_id=${erasedId}&type=PersonalDataErased`)) as AuditEvent[];
    erasurePosition = erased?.position ?? Number.NaN;
    expect(erasurePosition).toBeGreaterThan(0);

    expect(await api.page(`email=${q(EMAIL)}`)).toEqual({ events: [], next_after: null });
    expect(await api.page(`email=${q(EMAIL.toUpperCase())}&limit=1000`)).toEqual({
      events: [],
      next_after: null,
    });
    // By the user id the erased history is still there, its personal data unreadable.
    const byId = await api.all(`user_id=${erasedId}`);
    expect(byId.find((e) => e.type === "UserRegistered")?.data.email).toBe("[erased]");
  });

  test("the erased user's derived rows are gone, and no row maps the email to the old stream", async () => {
    const lookup = emailLookup(t.runtime.keyring, EMAIL);
    expect(await count(sql`select count(*) as n from users where id = ${erasedId}`)).toBe(0);
    expect(
      await count(sql`select count(*) as n from data_keys where subject_id = ${erasedId}`),
    ).toBe(0);
    expect(await count(sql`select count(*) as n from sessions where user_id = ${erasedId}`)).toBe(
      0,
    );
    expect(
      await count(sql`select count(*) as n from reset_codes where user_id = ${erasedId}`),
    ).toBe(0);
    expect(
      await count(sql`select count(*) as n from reset_code_keys k
        where k.request_id::text in (select data->>'requestId' from events
          where type = 'PasswordResetRequested' and data->>'userId' = ${erasedId})`),
    ).toBe(0);
    expect(
      await count(sql`select count(*) as n from rate_limits
        where key in (${`login-account:${lookup}`}, ${`per-user:${erasedId}`})`),
    ).toBe(0);
    expect(
      await count(sql`select count(*) as n from rate_limits where key = ${`per-user:${otherId}`}`),
    ).toBe(1);
    expect(await count(sql`select count(*) as n from reset_codes where user_id = ${otherId}`)).toBe(
      1,
    );

    // Neither the stored mapping nor the keyed hash of the address (SECRET_KEY) names the old streams.
    const mapped = await count(
      sql`select count(*) as n from reset_streams where stream_id = any(${erasedStreams}::text[])`,
    );
    expect(mapped).toBe(0);
    expect(erasedStreams).not.toContain(resetStreamId(t.runtime.keyring, EMAIL));
    const unknownStream = await count(sql`select count(*) as n from events
      where stream_id = ${resetStreamId(t.runtime.keyring, EMAIL)} and data ? 'userId'`);
    expect(unknownStream).toBe(0);

    // The erased user's last code is dead.
    const reset = await post("/v1/auth/password-reset/reset", {
      code: liveCode,
      new_password: "After-Erasure-1!",
    });
    expect(reset.status).toBe(400);
  });

  test("register again: by email and by user_id, only the new account's events", async () => {
    expect((await post("/v1/auth/password-reset/trigger", { email: EMAIL })).status).toBe(404);
    const newId = await register(EMAIL);
    expect((await post("/v1/auth/login", { email: EMAIL, password })).status).toBe(200);
    const code = await emailedCode(EMAIL);
    const reset = await post("/v1/auth/password-reset/reset", {
      code,
      new_password: "Second-Life-Passw0rd!",
      email: EMAIL,
    });
    expect(reset.status).toBe(200);
    await fake.waitFor(() => messagesTo(fake, EMAIL).length >= 4, 10_000);
    await waitFor(
      async () =>
        (await count(sql`select count(*) as n from events
          where type = 'PasswordChangedNoticeSent' and stream_id = ${`user-${newId}`}`)) > 0,
      { what: "the password-changed notice's outcome" },
    );
    await visible();

    const byEmail = await api.all(`email=${q(EMAIL)}`);
    const byId = await api.all(`user_id=${newId}`);
    expect(byEmail.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        "UserRegistered",
        "UserLoggedIn",
        "PasswordResetRequested",
        "PasswordResetEmailSent",
        "PasswordResetCompleted",
        "PasswordChanged",
      ]),
    );
    expect(byEmail).toEqual(byId);
    for (const event of byEmail) {
      expect({ position: event.position, after: event.position > erasurePosition }).toEqual({
        position: event.position,
        after: true,
      });
      expect(erasedStreams).not.toContain(event.stream);
      if (typeof event.data.userId === "string") expect(event.data.userId).toBe(newId);
    }
    expect(byEmail.find((e) => e.type === "UserRegistered")?.data.email).toBe(EMAIL);
    // The other account is untouched.
    expect((await api.all(`email=${q(OTHER)}`)).map((e) => e.type)).toContain(
      "PasswordResetEmailSent",
    );
  });
});

test("erasure forgets the address's failed logins: the next owner is not locked out by the last one's", async () => {
  const email = uniqueEmail("relocked");
  const wrong = (i: number) => post("/v1/auth/login", { email, password: `Wr0ng-${i}-Passw0rd!` });
  const firstId = await register(email);
  const almost = limits.failedLoginsPerAccount.max - 1;
  for (let i = 0; i < almost; i++) expect((await wrong(i)).status).toBe(401);
  expect((await api.erase(firstId)).status).toBe(204);

  await register(email);
  expect((await wrong(almost)).status).toBe(401);
  expect((await post("/v1/auth/login", { email, password })).status).toBe(200);
});
