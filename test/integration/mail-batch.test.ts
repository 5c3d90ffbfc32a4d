/**
 * Batch sending (README: Architecture): reset emails queued together leave in one Mailgun call with
 * recipient-variables; each recipient receives only their own message and code, a refused
 * address never fails the others, and every request gets its own recorded outcome.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { userStreamId } from "../../events/user";
import { passwordResetTemplate } from "../../projections/emails/catalog";
import { formatResetCode } from "../../projections/emails/code-format";
import { MailBatcher } from "../../src/mail/batch";
import type { Recipient } from "../../src/mail/mailer";
import { createMailgunMailer } from "../../src/mail/mailgun";
import { generateResetCode, normaliseResetCode } from "../../src/password-reset/code";
import { codeHash } from "../../src/password-reset/service";
import { seal } from "../../src/privacy";
import { codesSent, mapWithConcurrency, messagesTo } from "../support/e2e";
import {
  type FakeAttempt,
  type FakeMessage,
  firstField,
  mailgunEnv,
  recipientsOf,
} from "../support/fake-mailgun";
import { useFakeMailgun } from "../support/fixture";
import { useRuntime } from "../support/runtime";

const password = "Batch-Passw0rd!";
const passwordHash = Bun.password.hash(password, { algorithm: "argon2id" });

const fake = useFakeMailgun();
beforeEach(async () => {
  await fake.reset();
});

const codesIn = (message: FakeMessage): string[] => codesSent([message]);

/** Everything of a request except the parts the provider renders per recipient. */
function outsideTheBody(attempt: FakeAttempt): string {
  const { text: _t, html: _h, "recipient-variables": _r, ...rest } = attempt.fields;
  return JSON.stringify([rest, attempt.headers]);
}

describe("the batcher against the fake Mailgun", () => {
  const mailer = () =>
    createMailgunMailer({ apiKey: fake.apiKey, domain: fake.domain, url: fake.url });
  const template = passwordResetTemplate({
    from: "no-reply@mg.example.test",
    expiresInMinutes: 10,
  });
  const recipient = (i: number): Recipient => ({
    to: `batch-${i}@example.com`,
    variables: { code: formatResetCode(generateResetCode()) },
  });

  test("messages queued in one tick go out in one call; each recipient gets only their own code", async () => {
    const batcher = new MailBatcher(mailer());
    const recipients = Array.from({ length: 5 }, (_, i) => recipient(i));
    const deadline = Date.now() + 5_000;
    const results = await Promise.all(recipients.map((r) => batcher.send(template, r, deadline)));

    expect(fake.attempts).toHaveLength(1);
    const [call] = fake.attempts;
    expect(call?.fields.to).toEqual(recipients.map((r) => r.to));
    expect(firstField(call?.fields ?? {}, "recipient-variables")).toBeDefined();
    // Mailgun answers a batch with one id; every request records it.
    const ids = new Set(results.map((r) => (r.ok ? r.providerMessageId : "failed")));
    expect([...ids]).toEqual([call?.messageId ?? ""]);

    for (const r of recipients) {
      const received = messagesTo(fake, r.to);
      expect(received).toHaveLength(1);
      expect(codesIn(received[0] as FakeMessage)).toEqual([r.variables.code as string]);
      expect(firstField(received[0]?.fields ?? {}, "html")).toContain(r.variables.code as string);
      // The code never travels in a header, a tag or a v: variable.
      expect(outsideTheBody(call as FakeAttempt)).not.toContain(r.variables.code as string);
    }
  });

  test("a batch with a refused address: the others are delivered, only that one fails", async () => {
    const batcher = new MailBatcher(mailer());
    const recipients = Array.from({ length: 5 }, (_, i) => recipient(10 + i));
    const refused = recipients[2] as Recipient;
    fake.refuseRecipients([refused.to]);
    const deadline = Date.now() + 5_000;
    const results = await Promise.all(recipients.map((r) => batcher.send(template, r, deadline)));

    // The whole batch was refused once, then each message went alone.
    expect(recipientsOf(fake.attempts[0]?.fields ?? {})).toHaveLength(5);
    expect(fake.attempts[0]?.status).toBe(400);
    expect(fake.attempts.slice(1).map((a) => recipientsOf(a.fields).length)).toEqual([
      1, 1, 1, 1, 1,
    ]);
    recipients.forEach((r, i) => {
      if (r === refused) {
        expect(results[i]).toMatchObject({ ok: false, reason: "rejected", status: 400 });
        expect(messagesTo(fake, r.to)).toHaveLength(0);
      } else {
        expect(results[i]?.ok).toBe(true);
        expect(messagesTo(fake, r.to).map(codesIn)).toEqual([[r.variables.code as string]]);
      }
    });
  });

  test("one address twice in a tick goes out in two calls, each with its own code", async () => {
    const batcher = new MailBatcher(mailer());
    const first = recipient(20);
    const second = { ...recipient(21), to: first.to };
    const deadline = Date.now() + 5_000;
    await Promise.all([first, second].map((r) => batcher.send(template, r, deadline)));
    expect(fake.attempts).toHaveLength(2);
    expect(messagesTo(fake, first.to).map(codesIn)).toEqual([
      [first.variables.code as string],
      [second.variables.code as string],
    ]);
  });

  test("a batch still unanswered at the deadline: every request's failure is unknown", async () => {
    await fake.setMode({ delayMs: 5_000 });
    const batcher = new MailBatcher(mailer());
    const recipients = Array.from({ length: 3 }, (_, i) => recipient(30 + i));
    const deadline = Date.now() + 300;
    const results = await Promise.all(recipients.map((r) => batcher.send(template, r, deadline)));
    expect(results.map((r) => (r.ok ? "sent" : r.reason))).toEqual([
      "unknown",
      "unknown",
      "unknown",
    ]);
  });
});

describe("the service sends in batches", () => {
  const t = useRuntime(
    () => ({
      ...mailgunEnv(fake),
      RATE_LIMITS: "off",
      RESET_DISPATCH_TIMEOUT_MS: "20000",
    }),
    // One provider call at once, so that concurrent triggers must share calls.
    { runtime: { mailBatching: { callsInFlight: 1 } } },
  );

  /** An account as registration records it, with one password hash for all (hashing is slow). */
  async function seedUser(email: string): Promise<string> {
    const userId = randomUUID();
    await t.runtime.store.transact(async (trx) => {
      const key = await t.runtime.dataKeys.create(trx, userId);
      const data = {
        userId,
        sealedEmail: seal(key, userId, email),
        sealedPasswordHash: seal(key, userId, await passwordHash),
      };
      return [
        {
          streamId: userStreamId(userId),
          expectedVersion: 0,
          events: [{ type: "UserRegistered", data }],
        },
      ];
    });
    return userId;
  }

  async function requestsByUser() {
    const { rows } = await sql<{ data: { userId: string; requestId: string; codeHash: string } }>`
      select data from events where type = 'PasswordResetRequested'`.execute(t.runtime.db);
    return new Map(rows.map((r) => [r.data.userId, r.data]));
  }

  async function outcomesByRequest() {
    const { rows } = await sql<{ type: string; data: Record<string, unknown> }>`
      select type, data from events
      where type in ('PasswordResetEmailSent', 'PasswordResetEmailFailed')`.execute(t.runtime.db);
    return new Map(rows.map((r) => [r.data.requestId as string, r]));
  }

  test("200 concurrent triggers for 200 users: each receives exactly one message with exactly their own code", async () => {
    await fake.setMode({ delayMs: 100 });
    const emails = Array.from({ length: 200 }, (_, i) => `many-${i}@example.com`);
    const userIds = await mapWithConcurrency(emails, 8, seedUser);

    const answers = await Promise.all(
      emails.map((email) => t.request("POST", "/v1/auth/password-reset/trigger", { email })),
    );
    expect(answers.map((a) => a.status)).toEqual(emails.map(() => 200));

    // Batching happened: fewer calls than messages, some carrying many recipients.
    expect(fake.messages).toHaveLength(200);
    expect(fake.attempts.length).toBeLessThan(200);
    expect(Math.max(...fake.attempts.map((a) => recipientsOf(a.fields).length))).toBeGreaterThan(1);

    const requests = await requestsByUser();
    const outcomes = await outcomesByRequest();
    emails.forEach((email, i) => {
      const received = messagesTo(fake, email);
      expect({ email, messages: received.length }).toEqual({ email, messages: 1 });
      const message = received[0] as FakeMessage;
      const codes = codesIn(message);
      expect(codes).toHaveLength(1);
      const request = requests.get(userIds[i] as string);
      // The code the user received is the code of their own request, by its keyed hash.
      expect(codeHash(t.runtime, normaliseResetCode(codes[0] as string))).toBe(
        request?.codeHash as string,
      );
      const outcome = outcomes.get(request?.requestId as string);
      expect(outcome?.type).toBe("PasswordResetEmailSent");
      expect(outcome?.data.providerMessageId).toBe(message.id);
    });
  }, 120_000);

  test("a refused address among concurrent triggers: the others get 200 and their email", async () => {
    const lead = "lead@example.com";
    const others = Array.from({ length: 4 }, (_, i) => `batched-${i}@example.com`);
    const refused = others[1] as string;
    for (const email of [lead, ...others]) await seedUser(email);
    fake.refuseRecipients([refused]);

    // The lead's call holds the only provider slot while the others queue behind it.
    await fake.setMode({ delayMs: 3_000 });
    const leadAnswer = t.request("POST", "/v1/auth/password-reset/trigger", { email: lead });
    await fake.waitFor((_, attempts) =>
      attempts.some((a) => recipientsOf(a.fields).includes(lead)),
    );
    const answers = await Promise.all(
      others.map((email) => t.request("POST", "/v1/auth/password-reset/trigger", { email })),
    );
    await fake.setMode("ok");
    expect((await leadAnswer).status).toBe(200);

    expect(
      fake.attempts.some((a) => {
        const to = recipientsOf(a.fields);
        return to.length > 1 && to.includes(refused);
      }),
    ).toBe(true);
    others.forEach((email, i) => {
      if (email === refused) {
        expect(answers[i]?.status).toBe(500);
        expect(messagesTo(fake, email)).toHaveLength(0);
      } else {
        expect({ email, status: answers[i]?.status }).toEqual({ email, status: 200 });
        expect(messagesTo(fake, email)).toHaveLength(1);
      }
    });
    const outcomes = [...(await outcomesByRequest()).values()];
    const refusedOutcomes = outcomes.filter(
      (o) => o.type === "PasswordResetEmailFailed" && o.data.status === 400,
    );
    expect(refusedOutcomes.map((o) => o.data.reason)).toEqual(["rejected"]);
  }, 60_000);
});
