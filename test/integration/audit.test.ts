/**
 * Acceptance of the audit feature (README: Auditing), in-process through app.handle: one user's
 * real history through the HTTP API, read back by the auditors' API with every filter, paged
 * over thousands of events, erased by crypto-shredding, and guarded by AUDIT_TOKEN; no answer of
 * the audit API ever carries a code, a hash, a seal, a password or the token.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomBytes, randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { AuditEvent } from "../../src/audit/model";
import type { NewEvent } from "../../src/event-store";
import { limits } from "../../src/rate-limits/gcra";
import {
  type AuditPageBody,
  appClient,
  auditApi,
  buildTimeline,
  EVENT_KEYS,
  type HttpAnswer,
  leaks,
  type Send,
  secretsOf,
  TIMELINE_TYPES,
  type Timeline,
  waitForAuditHorizon,
} from "../support/audit";
import { freshIp } from "../support/random";
import { createTestRuntime, runtimeWithFakeMailgun } from "../support/runtime";
import { waitFor } from "../support/wait";

const TOKEN = `audit-${randomBytes(16).toString("hex")}`;
const ALICE = "audit.alice@example.com";
const BOB = "audit.bob@example.com";
const ERASED = "[erased]";

const { t, fake } = runtimeWithFakeMailgun({ AUDIT_TOKEN: TOKEN, TRUST_PROXY: "true" });
let send: Send;
/** Every body the audit API answered in this file: searched for secrets at the end. */
const seen: string[] = [];
let api: ReturnType<typeof auditApi>;
let alice: Timeline;
let bob: Timeline;
/** Alice's history by email, read before anything was erased. */
let aliceEvents: AuditEvent[];

const q = encodeURIComponent;

beforeAll(async () => {
  send = appClient(t.app);
  api = auditApi(send, TOKEN, seen);
  alice = await buildTimeline(send, fake, t.runtime.db, ALICE, "alice", "198.51.100");
  bob = await buildTimeline(send, fake, t.runtime.db, BOB, "bob", "203.0.113");
  await waitForAuditHorizon(t.runtime.db);
});

const typesOf = (events: AuditEvent[]) => events.map((e) => e.type);
const ofType = (events: AuditEvent[], type: string) => events.filter((e) => e.type === type);
const only = (events: AuditEvent[], type: string): AuditEvent => {
  const found = ofType(events, type);
  expect({ type, count: found.length }).toEqual({ type, count: 1 });
  return found[0] as AuditEvent;
};

/**
 * toMatchObject on a copy: bun 1.4.5's toMatchObject overwrites the received object's fields
 * with the asymmetric matchers it was given (expect.any(...) ends up inside the event).
 */
function expectLike(value: unknown, pattern: object) {
  expect(structuredClone(value)).toMatchObject(pattern);
}

function expectJsonError(res: HttpAnswer, status: number, error?: string) {
  expect({ status: res.status, contentType: res.headers.get("content-type") }).toEqual({
    status,
    contentType: expect.stringMatching(/^application\/json/),
  });
  expect(res.json).toEqual({ error: error ?? expect.any(String) });
  expect(String((res.json as { error: string }).error).length).toBeGreaterThan(0);
}

describe("GET /v1/audit/events: one user's history", () => {
  test("by email: the whole timeline, oldest first, each event with exactly the documented keys", async () => {
    const page = await api.page(`email=${q(ALICE)}`);
    expect(page.next_after).toBeNull();
    aliceEvents = page.events;

    expect(typesOf(aliceEvents)).toEqual(TIMELINE_TYPES);
    // The relative order the issue names, stated on its own.
    const order = [
      "PasswordResetRequested",
      "PasswordResetEmailSent",
      "PasswordResetCodeRejected",
      "PasswordResetCompleted",
      "PasswordChanged",
    ].map((type) => typesOf(aliceEvents).indexOf(type));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(typesOf(aliceEvents).lastIndexOf("UserLoggedIn")).toBeGreaterThan(order[4] ?? -1);

    for (const event of aliceEvents) {
      expect(Object.keys(event).sort()).toEqual(EVENT_KEYS);
      expectLike(event, {
        position: expect.any(Number),
        stream: expect.stringMatching(/^(user|password-reset)-/),
        version: expect.any(Number),
        type: expect.any(String),
        data: expect.any(Object),
      });
      expect(new Date(event.recorded_at).toISOString()).toBe(event.recorded_at);
      expectLike(event.metadata, {
        requestId: expect.any(String),
        correlationId: expect.any(String),
      });
      // No stream is named after an email.
      expect(event.stream).not.toContain("@");
    }
    // Oldest first: recorded_at never goes back, and versions grow within each stream.
    const times = aliceEvents.map((e) => Date.parse(e.recorded_at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const versions = new Map<string, number[]>();
    for (const e of aliceEvents)
      versions.set(e.stream, [...(versions.get(e.stream) ?? []), e.version]);
    for (const list of versions.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
    expect([...versions.keys()].sort()).toEqual(
      [`user-${alice.userId}`, only(aliceEvents, "PasswordResetRequested").stream].sort(),
    );
  });

  test("personal data is unsealed: email, the X-Forwarded-For address and the user agent of each step", () => {
    const { clients } = alice;
    const registered = only(aliceEvents, "UserRegistered");
    expect(registered.data).toEqual({ userId: alice.userId, email: ALICE });
    expect(registered.metadata.clientRequestId).toBe(clients.register.requestId);

    const [login, secondLogin] = ofType(aliceEvents, "UserLoggedIn");
    expectLike(login?.data, {
      userId: alice.userId,
      ip: clients.login.ip,
      userAgent: clients.login.userAgent,
    });
    expect(login?.metadata.clientRequestId).toBe(clients.login.requestId);
    expectLike(secondLogin?.data, {
      userId: alice.userId,
      ip: clients.secondLogin.ip,
      userAgent: clients.secondLogin.userAgent,
    });

    const requested = only(aliceEvents, "PasswordResetRequested");
    expectLike(requested.data, {
      userId: alice.userId,
      email: ALICE,
      ip: clients.trigger.ip,
      userAgent: clients.trigger.userAgent,
      expiresAt: expect.any(String),
    });
    expect(requested.metadata.clientRequestId).toBe(clients.trigger.requestId);
    const sent = only(aliceEvents, "PasswordResetEmailSent");
    expect(sent.stream).toBe(requested.stream);
    expect(sent.data.requestId).toBe(requested.data.requestId);
    expect(sent.metadata.correlationId).toBe(requested.metadata.correlationId);

    const rejected = only(aliceEvents, "PasswordResetCodeRejected");
    expect(rejected.stream).toBe(requested.stream);
    expectLike(rejected.data, { reason: "wrong_code" });
    expect(rejected.metadata.clientRequestId).toBe(clients.wrongReset.requestId);

    const completed = only(aliceEvents, "PasswordResetCompleted");
    expectLike(completed.data, {
      userId: alice.userId,
      requestId: requested.data.requestId,
      ip: clients.reset.ip,
      userAgent: clients.reset.userAgent,
    });
    const changed = only(aliceEvents, "PasswordChanged");
    expectLike(changed.data, { userId: alice.userId, reason: "reset" });
    expect(changed.stream).toBe(`user-${alice.userId}`);

    // Nothing sealed, and no secret field, is shown under any name.
    for (const e of aliceEvents) {
      for (const fields of [e.data, e.metadata]) {
        for (const name of Object.keys(fields)) {
          expect(name).not.toMatch(/^sealed|^(code|password|token)Hash$|^code$/i);
        }
      }
    }
  });

  test("by user_id: the same events (an upper-cased id too)", async () => {
    expect((await api.page(`user_id=${alice.userId}`)).events).toEqual(aliceEvents);
    expect((await api.page(`user_id=${alice.userId.toUpperCase()}`)).events).toEqual(aliceEvents);
    const bobs = (await api.page(`user_id=${bob.userId}`)).events;
    expect(typesOf(bobs)).toEqual(TIMELINE_TYPES);
    const alicePositions = new Set(aliceEvents.map((e) => e.position));
    expect(bobs.filter((e) => alicePositions.has(e.position))).toEqual([]);
  });

  test("by email, differently cased, spaced and URL-encoded: the same events", async () => {
    for (const query of [
      `email=${q("  Audit.Alice@Example.COM ")}`,
      "email=AUDIT.ALICE%40EXAMPLE.COM",
      `email=%20${ALICE.toUpperCase()}%20`,
      `email=${q(ALICE)}&limit=1000`,
    ]) {
      expect({ query, events: (await api.page(query)).events }).toEqual({
        query,
        events: aliceEvents,
      });
    }
    // An address with no history: an empty page, not an error.
    expect(await api.page(`email=${q("nobody.at.all@example.com")}`)).toEqual({
      events: [],
      next_after: null,
    });
  });

  test("type, repeated: only events of those types", async () => {
    const types = ["PasswordResetRequested", "UserLoggedIn"];
    const mine = await api.page(`email=${q(ALICE)}&type=${types[0]}&type=${types[1]}`);
    expect(mine.events).toEqual(aliceEvents.filter((e) => types.includes(e.type)));
    expect(typesOf(mine.events)).toEqual([
      "UserLoggedIn",
      "PasswordResetRequested",
      "UserLoggedIn",
    ]);

    const everyone = await api.all(`type=${types[0]}&type=${types[1]}`);
    expect(new Set(typesOf(everyone))).toEqual(new Set(types));
    expect(everyone.filter((e) => e.data.userId === bob.userId)).toHaveLength(3);
    expect(everyone.filter((e) => e.data.userId === alice.userId)).toHaveLength(3);

    const single = await api.page(`user_id=${alice.userId}&type=PasswordChanged`);
    expect(typesOf(single.events)).toEqual(["PasswordChanged"]);
  });

  test("from and to (ISO 8601) leave out the events outside", async () => {
    const from = alice.afterTrigger;
    const to = alice.beforeSecondLogin;
    const inRange = (e: AuditEvent, lo?: Date, hi?: Date) =>
      (lo === undefined || Date.parse(e.recorded_at) >= lo.getTime()) &&
      (hi === undefined || Date.parse(e.recorded_at) <= hi.getTime());

    const afterFrom = (await api.page(`email=${q(ALICE)}&from=${q(from.toISOString())}`)).events;
    expect(typesOf(afterFrom)).toEqual([
      "PasswordResetCodeRejected",
      "PasswordResetCompleted",
      "PasswordChanged",
      "SessionEnded",
      "PasswordChangedNoticeSent",
      "UserLoggedIn",
    ]);
    expect(afterFrom).toEqual(aliceEvents.filter((e) => inRange(e, from)));

    const beforeTo = (await api.page(`email=${q(ALICE)}&to=${q(to.toISOString())}`)).events;
    expect(beforeTo).toEqual(aliceEvents.slice(0, -1));
    expect(beforeTo).toEqual(aliceEvents.filter((e) => inRange(e, undefined, to)));

    const between = (
      await api.page(
        `user_id=${alice.userId}&from=${q(from.toISOString())}&to=${q(to.toISOString())}`,
      )
    ).events;
    expect(typesOf(between)).toEqual([
      "PasswordResetCodeRejected",
      "PasswordResetCompleted",
      "PasswordChanged",
      "SessionEnded",
      "PasswordChangedNoticeSent",
    ]);

    // The same instants with an explicit offset instead of Z.
    const withOffset = (d: Date) => d.toISOString().replace("Z", "+00:00");
    const offsetQuery = `email=${q(ALICE)}&from=${q(withOffset(from))}&to=${q(withOffset(to))}`;
    expect((await api.page(offsetQuery)).events).toEqual(between);

    // A window entirely before the history: nothing.
    const early = (await api.page(`email=${q(ALICE)}&to=2001-01-01T00:00:00Z`)).events;
    expect(early).toEqual([]);
  });

  test("limit and after page the same history without loss or repeat", async () => {
    const pages: AuditPageBody[] = [];
    let after: number | null = null;
    do {
      const page: AuditPageBody = await api.page(
        `email=${q(ALICE)}&limit=2${after === null ? "" : `&after=${after}`}`,
      );
      expect(page.events.length).toBeLessThanOrEqual(2);
      pages.push(page);
      after = page.next_after;
      if (after !== null) expect(after).toBe(page.events.at(-1)?.position ?? -1);
    } while (after !== null);
    expect(pages.flatMap((p) => p.events)).toEqual(aliceEvents);
    expect(pages).toHaveLength(Math.ceil(aliceEvents.length / 2));
  });

  test("bad filters: 400 with a JSON error", async () => {
    for (const query of [
      "limit=0",
      "limit=1001",
      "limit=ten",
      "limit=-1",
      "user_id=abc",
      "user_id=",
      "from=yesterday",
      "to=yesterday",
      "from=2026-13-45",
      "email=not-an-address",
      "after=abc",
      `email=${q(ALICE)}&email=${q(BOB)}`,
    ]) {
      const res = await api.get(query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expectJsonError(res, 400);
    }
  });
});

describe("paging through thousands of events", () => {
  test("limit=1000 and next_after visit every position exactly once", async () => {
    // 2,500 small events, cheaply: ten appends of 250 on five throwaway streams.
    const streams = Array.from({ length: 5 }, () => `audit-filler-${randomUUID()}`);
    for (let batch = 0; batch < 10; batch++) {
      const events: NewEvent[] = Array.from({ length: 250 }, (_, i) => ({
        type: "AuditFiller",
        data: { batch, i },
        metadata: { requestId: `filler-${batch}`, correlationId: `filler-${batch}` },
      }));
      await t.runtime.store.append(streams[batch % streams.length] as string, "any", events);
    }
    // Pages only show transactions below the oldest running one: let any in flight finish.
    await waitFor(async () => {
      const { rows } = await sql<{ visible: boolean }>`
        select pg_snapshot_xmin(pg_current_snapshot()) > max(transaction_id) as visible
        from events`.execute(t.runtime.db);
      return rows[0]?.visible === true;
    });

    const { rows } = await sql<{ position: string }>`
      select global_position::text as position from events order by global_position`.execute(
      t.runtime.db,
    );
    const stored = rows.map((r) => Number(r.position));
    expect(stored.length).toBeGreaterThanOrEqual(2500);

    const seenPositions: number[] = [];
    let after: number | null = null;
    let pages = 0;
    do {
      const page: AuditPageBody = await api.page(
        `limit=1000${after === null ? "" : `&after=${after}`}`,
      );
      pages += 1;
      expect(page.events.length).toBeLessThanOrEqual(1000);
      if (page.next_after !== null) expect(page.events).toHaveLength(1000);
      seenPositions.push(...page.events.map((e) => e.position));
      after = page.next_after;
      expect(pages).toBeLessThan(100);
    } while (after !== null);

    expect(seenPositions).toHaveLength(stored.length);
    expect(new Set(seenPositions).size).toBe(seenPositions.length);
    expect([...seenPositions].sort((a, b) => a - b)).toEqual(stored);
    expect(pages).toBe(Math.ceil(stored.length / 1000));
    const fillers = ofType(await api.all("type=AuditFiller"), "AuditFiller");
    expect(fillers).toHaveLength(2500);
  });
});

describe("authorisation", () => {
  const routes = (userId: string) =>
    [
      ["GET", `/v1/audit/events?email=${q(ALICE)}`],
      ["DELETE", `/v1/audit/users/${userId}/personal-data`],
    ] as const;
  const recordAnswer = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    client: Send = send,
  ) => {
    const res = await client(method, path, undefined, headers);
    seen.push(res.text);
    return res;
  };

  test("no token or a wrong one: 401 unauthorized, on both routes, and nothing is erased", async () => {
    const wrong: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong-token-of-some-length" },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`api:${TOKEN}`).toString("base64")}` },
      { authorization: TOKEN },
      { authorization: "Bearer " },
    ];
    for (const [method, path] of routes(bob.userId)) {
      for (const headers of wrong) {
        // Each from its own address: the limit on failures is the next test's.
        const from = { "x-forwarded-for": freshIp() };
        const res = await recordAnswer(method, path, { ...headers, ...from });
        expect({ method, headers, status: res.status }).toEqual({ method, headers, status: 401 });
        expectJsonError(res, 401, "unauthorized");
      }
    }
    // Bob is still there: the refused DELETEs did nothing.
    const bobs = (await api.page(`user_id=${bob.userId}`)).events;
    expect(only(bobs, "UserRegistered").data.email).toBe(BOB);
    expect(typesOf(bobs)).not.toContain("PersonalDataErased");
  });

  test("failed tokens are limited per client address: then 429 even with the right token, which never counts", async () => {
    const { max, windowMs } = limits.failedAuditAuthPerIp;
    const from = (ip: string, authorization?: string) => ({
      "x-forwarded-for": ip,
      ...(authorization === undefined ? {} : { authorization }),
    });
    const get = (headers: Record<string, string>) =>
      recordAnswer("GET", "/v1/audit/events?limit=1", headers);
    const guesser = "198.18.7.1";
    for (let i = 0; i < max; i++) {
      // Right tokens in between, as many as the failures, and none of them counts as one.
      expect((await get(from(guesser, `Bearer ${TOKEN}`))).status).toBe(200);
      const guess = i % 2 === 0 ? from(guesser, `Bearer guess-${i}-${TOKEN}`) : from(guesser);
      expectJsonError(await get(guess), 401, "unauthorized");
    }
    for (const authorization of [`Bearer guess-${max}-${TOKEN}`, `Bearer ${TOKEN}`]) {
      const res = await get(from(guesser, authorization));
      expectJsonError(res, 429, "too many requests");
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(windowMs / 1000 - 120);
      expect(retryAfter).toBeLessThanOrEqual(windowMs / 1000);
    }
    const erase = await recordAnswer(
      "DELETE",
      `/v1/audit/users/${bob.userId}/personal-data`,
      from(guesser, `Bearer ${TOKEN}`),
    );
    expectJsonError(erase, 429, "too many requests");
    // Another address is not held back.
    expect((await get(from("198.18.7.2", `Bearer ${TOKEN}`))).status).toBe(200);
  });

  test("guesses sent at once cannot outrun the limit on failed tokens", async () => {
    const { max } = limits.failedAuditAuthPerIp;
    const answers = await Promise.all(
      Array.from({ length: 3 * max }, (_, i) =>
        recordAnswer("GET", "/v1/audit/events?limit=1", {
          "x-forwarded-for": "198.18.7.3",
          authorization: `Bearer burst-${i}-${TOKEN}`,
        }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array(max).fill(401), ...Array(2 * max).fill(429)]);
  });

  test("no AUDIT_TOKEN configured: 503 audit api disabled, on both routes, whatever is sent", async () => {
    const disabled = await createTestRuntime({});
    try {
      const client = appClient(disabled.app);
      for (const [method, path] of routes(randomUUID())) {
        for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<
          string,
          string
        >[]) {
          const res = await recordAnswer(method, path, headers, client);
          expect({ method, status: res.status }).toEqual({ method, status: 503 });
          expectJsonError(res, 503, "audit api disabled");
        }
      }
    } finally {
      await disabled.close();
    }
  });
});

describe("DELETE /v1/audit/users/{id}/personal-data: erasure", () => {
  type Row = Record<string, unknown>;
  const snapshot = async (): Promise<Row[]> =>
    (
      await sql<Row>`
        select global_position::text as global_position, event_id::text as event_id, stream_id,
               stream_version, type, data::text as data, metadata::text as metadata,
               recorded_at::text as recorded_at, transaction_id::text as transaction_id
        from events order by events.global_position`.execute(t.runtime.db)
    ).rows;
  const dataKeys = async () =>
    (
      await sql<{ subject_id: string; wrapped_key: string }>`
        select subject_id::text as subject_id, encode(wrapped_key, 'hex') as wrapped_key
        from data_keys order by subject_id`.execute(t.runtime.db)
    ).rows;
  const userRows = async (id: string) =>
    t.runtime.db.selectFrom("users").select("id").where("id", "=", id).execute();

  let keysBefore: { subject_id: string; wrapped_key: string }[];
  let aliceBefore: AuditEvent[];

  test("204 with an empty body; the events stay byte for byte, plus one PersonalDataErased", async () => {
    aliceBefore = (await api.page(`user_id=${alice.userId}`)).events;
    const before = await snapshot();
    keysBefore = await dataKeys();
    expect(keysBefore.map((k) => k.subject_id)).toContain(alice.userId);
    expect(await userRows(alice.userId)).toHaveLength(1);

    const res = await api.erase(alice.userId);
    expect(res.status).toBe(204);
    expect(res.text).toBe("");

    const after = await snapshot();
    expect(after.slice(0, before.length)).toEqual(before);
    const added = after.slice(before.length);
    expect(added.map((r) => [r.stream_id, r.type, r.stream_version])).toEqual([
      [`user-${alice.userId}`, "PersonalDataErased", (aliceBefore.at(-1)?.version ?? 0) + 1],
    ]);
    // AUDIT_TOKEN alone is the token named "default": the erasure names it, never the token.
    expect(JSON.parse(String(added[0]?.data))).toEqual({
      userId: alice.userId,
      erasedBy: "default",
    });

    // The data key and the account row are gone; Bob's are not.
    const keysAfter = await dataKeys();
    expect(keysAfter.map((k) => k.subject_id)).not.toContain(alice.userId);
    expect(keysAfter.map((k) => k.subject_id)).toContain(bob.userId);
    expect(await userRows(alice.userId)).toHaveLength(0);
    expect(await userRows(bob.userId)).toHaveLength(1);
  });

  test('the same audit query now shows "[erased]" for email, ip and user agent, and nothing else changed', async () => {
    await waitForAuditHorizon(t.runtime.db);
    const after = (await api.page(`user_id=${alice.userId}`)).events;
    expect(typesOf(after)).toEqual([...TIMELINE_TYPES, "PersonalDataErased"]);
    const erase = (fields: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(fields).map(([k, v]) =>
          ["email", "ip", "userAgent"].includes(k) ? [k, ERASED] : [k, v],
        ),
      );
    expect(after.slice(0, -1)).toEqual(
      aliceBefore.map((e) => ({ ...e, data: erase(e.data), metadata: erase(e.metadata) })),
    );
    expect(only(after, "UserRegistered").data.email).toBe(ERASED);
    expectLike(only(after, "PasswordResetRequested").data, {
      email: ERASED,
      ip: ERASED,
      userAgent: ERASED,
    });
    for (const login of ofType(after, "UserLoggedIn")) {
      expectLike(login.data, { ip: ERASED, userAgent: ERASED });
    }
    expectLike(only(after, "PasswordResetCompleted").data, {
      ip: ERASED,
      userAgent: ERASED,
    });
    expectLike(after.at(-1), {
      stream: `user-${alice.userId}`,
      type: "PersonalDataErased",
      data: { userId: alice.userId, erasedBy: "default" },
      metadata: { requestId: expect.any(String), correlationId: expect.any(String) },
    });
    expect(JSON.stringify(after)).not.toContain(ALICE);
    for (const client of Object.values(alice.clients)) {
      expect(JSON.stringify(after)).not.toContain(client.ip);
      expect(JSON.stringify(after)).not.toContain(client.userAgent);
    }
    // By email nothing leads back to the erased history.
    expect(await api.page(`email=${q(ALICE)}`)).toEqual({ events: [], next_after: null });
    // Bob is untouched.
    const bobs = (await api.page(`user_id=${bob.userId}`)).events;
    expectLike(only(bobs, "PasswordResetRequested").data, {
      email: BOB,
      ip: bob.clients.trigger.ip,
    });
  });

  test("the erased account is gone: login 401, trigger 404", async () => {
    for (const password of [alice.password, alice.newPassword]) {
      const res = await send("POST", "/v1/auth/login", { email: ALICE, password });
      expectJsonError(res, 401, "invalid credentials");
    }
    const res = await send(
      "POST",
      "/v1/auth/password-reset/trigger",
      { email: ALICE },
      { "x-forwarded-for": "192.0.2.77" },
    );
    expectJsonError(res, 404, "user not found");
  });

  test("the same email registers again: a new user id and a data key unlike any before", async () => {
    const res = await send("POST", "/v1/auth/register", { email: ALICE, password: alice.password });
    expect(res.status).toBe(201);
    const newId = (res.json as { user: { id: string; email: string } }).user.id;
    expect(newId).not.toBe(alice.userId);
    expect((res.json as { user: { email: string } }).user.email).toBe(ALICE);

    const keys = await dataKeys();
    const fresh = keys.find((k) => k.subject_id === newId);
    expect(fresh).toBeDefined();
    expect(keysBefore.map((k) => k.subject_id)).not.toContain(newId);
    expect(keysBefore.map((k) => k.wrapped_key)).not.toContain(fresh?.wrapped_key ?? "");
    expect(keys.map((k) => k.subject_id)).not.toContain(alice.userId);

    // By email: only the new account's registration, none of the erased user's events.
    await waitForAuditHorizon(t.runtime.db);
    const byEmail = (await api.page(`email=${q(ALICE)}`)).events;
    expect(byEmail.map((e) => [e.stream, e.type])).toEqual([[`user-${newId}`, "UserRegistered"]]);
    expect(byEmail[0]?.data).toEqual({ userId: newId, email: ALICE });
    // And by the new id only the new account's history.
    const byNewId = (await api.page(`user_id=${newId}`)).events;
    expect(typesOf(byNewId)).toEqual(["UserRegistered"]);
  });

  test("erasing twice: 204 both times, one PersonalDataErased; an unknown user: 404", async () => {
    const again = await api.erase(alice.userId);
    expect(again.status).toBe(204);
    expect(again.text).toBe("");
    const upper = await api.erase(alice.userId.toUpperCase());
    expect(upper.status).toBe(204);
    const erased = ofType((await api.page(`user_id=${alice.userId}`)).events, "PersonalDataErased");
    expect(erased).toHaveLength(1);

    expectJsonError(await api.erase(randomUUID()), 404);
    expectJsonError(await api.erase("not-a-uuid"), 400);
  });
});

describe("erasure racing audit reads", () => {
  /**
   * On PostgreSQL (a pool; PGlite's single connection serialises the race away) an audit read
   * running during the erasure's transaction still finds the key row; it must not cache the key
   * again, or this process would keep unsealing the erased user's data after the 204.
   */
  test("an audit read racing the erasure does not keep the key: after the 204 the data shows as erased", async () => {
    const unsealedAfterErasure: string[] = [];
    for (let round = 0; round < 8; round++) {
      const email = `audit.race-${round}@example.com`;
      const reg = await send("POST", "/v1/auth/register", { email, password: alice.password });
      expect(reg.status).toBe(201);
      const id = (reg.json as { user: { id: string } }).user.id;
      // As after a restart: the key is not cached yet, so readers go to the database for it.
      t.runtime.dataKeys.forget(id);
      let erasing = true;
      const readers = Array.from({ length: 4 }, async () => {
        while (erasing) await api.page(`user_id=${id}`);
      });
      const erased = await api.erase(id);
      erasing = false;
      await Promise.all(readers);
      expect(erased.status).toBe(204);
      await waitForAuditHorizon(t.runtime.db);
      const after = (await api.page(`user_id=${id}`)).events;
      const shown = after.find((e) => e.type === "UserRegistered")?.data.email;
      if (shown !== ERASED) unsealedAfterErasure.push(String(shown));
    }
    expect(unsealedAfterErasure).toEqual([]);
  });
});

describe("secrets", () => {
  test("no audit answer in this file holds a code, a hash, a seal, a password or the token", () => {
    expect(seen.length).toBeGreaterThan(40);
    const needles = [...secretsOf(alice, TOKEN), ...secretsOf(bob, TOKEN)];
    expect(leaks(seen, needles)).toEqual([]);
  });
});
