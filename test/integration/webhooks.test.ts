/**
 * Delivery reports (README: Delivery reports from Mailgun), in-process through app.handle: signed Mailgun webhooks on a
 * reset email and a password-changed notice append the right events to the right streams and
 * show in the audit API; bad, stale and replayed signatures, repeated provider events and
 * unknown message ids record nothing.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { createApp } from "../../src/app";
import type { AuditEvent } from "../../src/audit/model";
import { auditApi, buildTimeline, type Send, type Timeline } from "../support/audit";
import { messagesTo } from "../support/e2e";
import type { FakeMessage } from "../support/fake-mailgun";
import {
  appPoster,
  type ReportEvent,
  WEBHOOK_PATH,
  webhookBody,
} from "../support/fake-mailgun-webhooks";
import { appClient, type HttpAnswer } from "../support/http";
import { runtimeWithFakeMailgun } from "../support/runtime";
import { waitFor } from "../support/wait";

const TOKEN = `audit-${randomBytes(16).toString("hex")}`;
const SIGNING_KEY = `key-${randomBytes(16).toString("hex")}`;
/** Mailgun's new key while its old one (SIGNING_KEY) is rotated out: both are configured. */
const NEW_SIGNING_KEY = `key-${randomBytes(16).toString("hex")}`;
const ALICE = "hooks.alice@example.com";
const BOB = "hooks.bob@example.com";

const { t, fake } = runtimeWithFakeMailgun({
  AUDIT_TOKEN: TOKEN,
  MAILGUN_WEBHOOK_SIGNING_KEY: `${NEW_SIGNING_KEY}, ${SIGNING_KEY}`,
  TRUST_PROXY: "true",
});
let send: Send;
let api: ReturnType<typeof auditApi>;
let alice: Timeline;
let resetEmail: FakeMessage;
let notice: FakeMessage;

beforeAll(async () => {
  send = appClient(t.app);
  api = auditApi(send, TOKEN, []);
  alice = await buildTimeline(send, fake, t.runtime.db, ALICE, "alice", "198.51.100");
  await buildTimeline(send, fake, t.runtime.db, BOB, "bob", "203.0.113");
  [resetEmail, notice] = messagesTo(fake, ALICE) as [FakeMessage, FakeMessage];
});

const post = appPoster(
  (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    send(method, path, body, headers),
);
const report = (message: FakeMessage, event: ReportEvent, extra = {}) =>
  post(webhookBody({ signingKey: SIGNING_KEY, message, event, ...extra }));

/** The log's end and the token table's size: "nothing recorded" means neither moves. */
async function logState() {
  const { rows } = await sql<{ position: string | null; tokens: string }>`
    select (select max(global_position) from events)::text as position,
           (select count(*) from webhook_tokens)::text as tokens`.execute(t.runtime.db);
  return rows[0];
}

function expectAnswer(res: HttpAnswer, status: number, body: unknown) {
  expect({ status: res.status, body: res.json }).toEqual({ status, body });
  expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
}

const reportTypes = (events: AuditEvent[], prefix: string) =>
  events.filter((e) => e.type.startsWith(prefix) && !/(Sent|Failed)$/.test(e.type));

/** The audit API shows a commit once every older transaction has ended: poll until it does. */
const reportsShown = (query: string, prefix: string, count: number) =>
  waitFor(
    async () => {
      const events = await api.all(query);
      return reportTypes(events, prefix).length >= count ? events : false;
    },
    { what: `${count} ${prefix} reports in the audit API` },
  );

describe("POST /v1/webhooks/mailgun: reports on sent emails", () => {
  test("delivered, failed permanent, failed temporary and complained on the reset email go to its request's stream", async () => {
    for (const event of [
      "delivered",
      "failed-permanent",
      "failed-temporary",
      "complained",
    ] as const) {
      expectAnswer(await report(resetEmail, event), 200, { message: "recorded" });
    }
    const events = await reportsShown(
      `email=${encodeURIComponent(ALICE)}`,
      "PasswordResetEmail",
      4,
    );
    const requested = events.find((e) => e.type === "PasswordResetRequested") as AuditEvent;
    const sent = events.find((e) => e.type === "PasswordResetEmailSent") as AuditEvent;
    const reports = reportTypes(events, "PasswordResetEmail");
    expect(reports.map((e) => e.type)).toEqual([
      "PasswordResetEmailDelivered",
      "PasswordResetEmailBounced",
      "PasswordResetEmailDeferred",
      "PasswordResetEmailComplained",
    ]);
    const bareId = resetEmail.id.replace(/^<|>$/g, "");
    for (const e of reports) {
      expect(e.stream).toBe(requested.stream);
      expect(e.data).toMatchObject({
        requestId: requested.data.requestId as string,
        providerMessageId: bareId,
      });
      expect(e.metadata.causationId).toBe(
        sent.metadata.causationId === undefined ? e.metadata.causationId : e.metadata.causationId,
      );
      expect(JSON.stringify(e)).not.toContain(ALICE);
    }
    expect(reports[1]?.data).toMatchObject({ reason: "bounce", code: 550 });
    expect(reports[2]?.data).toMatchObject({ reason: "generic", code: 421 });
    expect(sent.data.providerMessageId).toBe(resetEmail.id);
  });

  test("the same four on the password-changed notice go to the user's stream", async () => {
    for (const event of [
      "delivered",
      "failed-permanent",
      "failed-temporary",
      "complained",
    ] as const) {
      expectAnswer(await report(notice, event), 200, { message: "recorded" });
    }
    const events = await reportsShown(`user_id=${alice.userId}`, "PasswordChangedNotice", 4);
    const changed = events.find((e) => e.type === "PasswordChanged") as AuditEvent;
    const reports = reportTypes(events, "PasswordChangedNotice");
    expect(reports.map((e) => e.type)).toEqual([
      "PasswordChangedNoticeDelivered",
      "PasswordChangedNoticeBounced",
      "PasswordChangedNoticeDeferred",
      "PasswordChangedNoticeComplained",
    ]);
    for (const e of reports) {
      expect(e.stream).toBe(`user-${alice.userId}`);
      expect(e.data.changeEventId).toBeString();
    }
    const { rows } = await sql<{ event_id: string }>`
      select event_id::text from events where stream_id = ${changed.stream}
      and type = 'PasswordChanged'`.execute(t.runtime.db);
    expect(reports.map((e) => e.data.changeEventId)).toEqual(reports.map(() => rows[0]?.event_id));
  });

  test("while Mailgun's key is rotated, a report signed with either configured key is recorded", async () => {
    const before = reportTypes(
      await api.all(`email=${encodeURIComponent(ALICE)}`),
      "PasswordResetEmail",
    );
    for (const signingKey of [NEW_SIGNING_KEY, SIGNING_KEY]) {
      const body = webhookBody({ signingKey, message: resetEmail, event: "delivered" });
      expectAnswer(await post(body), 200, { message: "recorded" });
    }
    const events = await reportsShown(
      `email=${encodeURIComponent(ALICE)}`,
      "PasswordResetEmail",
      before.length + 2,
    );
    expect(
      reportTypes(events, "PasswordResetEmail")
        .slice(before.length)
        .map((e) => e.type),
    ).toEqual(["PasswordResetEmailDelivered", "PasswordResetEmailDelivered"]);
  });

  test("a reset stream with reports still takes triggers", async () => {
    const res = await send("POST", "/v1/auth/password-reset/trigger", { email: ALICE });
    expect(res.status).toBe(200);
  });
});

describe("POST /v1/webhooks/mailgun: what records nothing", () => {
  test("a wrong signature: 401, nothing recorded", async () => {
    const before = await logState();
    const wrong = await report(resetEmail, "delivered", { signature: "0".repeat(64) });
    expectAnswer(wrong, 401, { error: "invalid signature" });
    // A third key, neither the new one nor the old: refused like any wrong key.
    const otherKey = await post(
      webhookBody({
        signingKey: `key-${randomBytes(16).toString("hex")}`,
        message: resetEmail,
        event: "delivered",
      }),
    );
    expectAnswer(otherKey, 401, { error: "invalid signature" });
    expect(await logState()).toEqual(before);
  });

  test("a timestamp 10 minutes old (or ahead): 401, nothing recorded", async () => {
    const before = await logState();
    const now = Math.floor(Date.now() / 1000);
    for (const timestamp of [now - 600, now + 600]) {
      expectAnswer(await report(resetEmail, "delivered", { timestamp }), 401, {
        error: "invalid signature",
      });
    }
    expect(await logState()).toEqual(before);
  });

  test("a replayed token: 401, nothing recorded", async () => {
    const body = webhookBody({ signingKey: SIGNING_KEY, message: resetEmail, event: "delivered" });
    expectAnswer(await post(body), 200, { message: "recorded" });
    const before = await logState();
    expectAnswer(await post(body), 401, { error: "invalid signature" });
    // The same token under a new event id is still a replay.
    const again = webhookBody({
      signingKey: SIGNING_KEY,
      message: resetEmail,
      event: "complained",
      token: body.signature.token,
      timestamp: Number(body.signature.timestamp),
    });
    expectAnswer(await post(again), 401, { error: "invalid signature" });
    expect(await logState()).toEqual(before);
  });

  test("a repeated event-data.id with a fresh signature: 200, nothing new in the log", async () => {
    const eventId = `repeat-${randomBytes(6).toString("hex")}`;
    expectAnswer(await report(resetEmail, "delivered", { eventId }), 200, {
      message: "recorded",
    });
    const before = await logState();
    expectAnswer(await report(resetEmail, "delivered", { eventId }), 200, {
      message: "already recorded",
    });
    expect((await logState())?.position).toBe(before?.position);
  });

  test("an unknown message id, or a known one for another recipient: 200 ignored, no event", async () => {
    const before = await logState();
    const unknown = { id: `<${Date.now()}.nobody@${fake.domain}>`, fields: resetEmail.fields };
    expectAnswer(await report(unknown as FakeMessage, "delivered"), 200, { message: "ignored" });
    // Batch sends share a message id between recipients: the recipient picks the stream.
    expectAnswer(await report(resetEmail, "delivered", { recipient: BOB }), 200, {
      message: "ignored",
    });
    expect((await logState())?.position).toBe(before?.position);
  });

  test("events Mailgun reports that the log does not keep are ignored", async () => {
    const before = await logState();
    const body = webhookBody({ signingKey: SIGNING_KEY, message: resetEmail, event: "delivered" });
    body["event-data"].event = "opened";
    expectAnswer(await post(body), 200, { message: "ignored" });
    expect((await logState())?.position).toBe(before?.position);
  });

  test("not a webhook: 400 for a body that is not JSON, 401 without a signature", async () => {
    const before = await logState();
    const text = await send("POST", WEBHOOK_PATH, "signature=x", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expectAnswer(text, 400, { error: "invalid request body" });
    expectAnswer(await post({ "event-data": {} }), 401, { error: "invalid signature" });
    expectAnswer(await post({ signature: { timestamp: "x", token: "y", signature: "z" } }), 401, {
      error: "invalid signature",
    });
    expect(await logState()).toEqual(before);
  });

  test("no signing key configured: 503 webhooks disabled", async () => {
    const runtime = t.runtime;
    const app = createApp({
      ...runtime,
      config: { ...runtime.config, webhookSigningKeys: [] },
    });
    const before = await logState();
    const res = await appClient(app)(
      "POST",
      WEBHOOK_PATH,
      webhookBody({ signingKey: SIGNING_KEY, message: resetEmail, event: "delivered" }),
    );
    expectAnswer(res, 503, { error: "webhooks disabled" });
    expect(await logState()).toEqual(before);
  });
});
