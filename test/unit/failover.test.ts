import { describe, expect, test } from "bun:test";
import { MailBatcher } from "../../src/mail/batch";
import { deliverWithRetry } from "../../src/mail/deliver";
import { createFailoverMailer } from "../../src/mail/failover";
import type { MailBatch, Mailer, MailMessage, SendOutcome } from "../../src/mail/mailer";

const message: MailMessage = {
  to: "user@example.com",
  from: "no-reply@mg.example.test",
  subject: "Reset your password",
  text: "code",
  html: "<p>code</p>",
  tags: ["password-reset"],
};

const NOT_TAKEN: SendOutcome = {
  ok: false,
  retryable: true,
  reason: "server-error",
  status: 503,
  notTaken: true,
};
const MAYBE_SENT: SendOutcome = { ok: false, retryable: true, reason: "timeout", maybeSent: true };

/** A transport answering the scripted outcomes in turn (the last one repeated). */
function scripted(name: string, outcomes: SendOutcome[], batches = false) {
  const sent: string[] = [];
  const batched: string[][] = [];
  const next = () => outcomes[Math.min(sent.length + batched.length, outcomes.length) - 1];
  const mailer: Mailer = {
    name,
    async send(m) {
      sent.push(m.to);
      return next() ?? { ok: true, providerMessageId: `${name}-id` };
    },
    ...(batches
      ? {
          async sendBatch(batch: MailBatch) {
            batched.push(batch.recipients.map((r) => r.to));
            return next() ?? { ok: true, providerMessageId: `${name}-batch` };
          },
        }
      : {}),
  };
  return { mailer, sent, batched };
}

const ok = (id: string): SendOutcome => ({ ok: true, providerMessageId: id });
const options = (deadlineMs = 5_000) => ({
  deadline: Date.now() + deadlineMs,
  sleep: async () => {},
});

describe("failover", () => {
  test("a transport that surely did not take it hands the message to the next, which is named", async () => {
    const first = scripted("mailgun", [NOT_TAKEN]);
    const second = scripted("smtp", [ok("smtp-1")]);
    const result = await deliverWithRetry(
      createFailoverMailer([first.mailer, second.mailer]),
      message,
      options(),
    );
    expect(result).toEqual({
      ok: true,
      providerMessageId: "smtp-1",
      attempts: 1,
      transport: "smtp",
    });
    expect([first.sent, second.sent]).toEqual([[message.to], [message.to]]);
  });

  test("a message the first may have taken is unknown, never offered to another nor again", async () => {
    const first = scripted("mailgun", [MAYBE_SENT]);
    const second = scripted("smtp", [ok("smtp-1")]);
    const result = await deliverWithRetry(
      createFailoverMailer([first.mailer, second.mailer]),
      message,
      options(),
    );
    expect(result).toEqual({ ok: false, reason: "unknown", attempts: 1 });
    expect([first.sent.length, second.sent.length]).toEqual([1, 0]);
  });

  test("a refusal about the message itself stops there", async () => {
    const first = scripted("mailgun", [
      { ok: false, retryable: false, reason: "rejected", status: 400 },
    ]);
    const second = scripted("smtp", [ok("smtp-1")]);
    const result = await deliverWithRetry(
      createFailoverMailer([first.mailer, second.mailer]),
      message,
      options(),
    );
    expect(result).toEqual({ ok: false, reason: "rejected", status: 400, attempts: 1 });
    expect(second.sent).toEqual([]);
  });

  test("every transport refusing: tried again from the first, within the deadline", async () => {
    const first = scripted("mailgun", [NOT_TAKEN, NOT_TAKEN, ok("mailgun-3")]);
    const second = scripted("smtp", [NOT_TAKEN]);
    const result = await deliverWithRetry(
      createFailoverMailer([first.mailer, second.mailer]),
      message,
      options(),
    );
    expect(result).toMatchObject({ ok: true, transport: "mailgun", attempts: 3 });
    expect([first.sent.length, second.sent.length]).toEqual([3, 2]);
  });

  test("a batch no batch transport took is split, each message going on alone", async () => {
    const first = scripted("mailgun", [NOT_TAKEN, NOT_TAKEN, NOT_TAKEN], true);
    const second = scripted("smtp", [ok("smtp")]);
    const batcher = new MailBatcher(createFailoverMailer([first.mailer, second.mailer]), {
      sleep: async () => {},
    });
    const { to: _, ...template } = message;
    const deadline = Date.now() + 5_000;
    const results = await Promise.all(
      ["a@example.com", "b@example.com"].map((to) =>
        batcher.send(template, { to, variables: {} }, deadline),
      ),
    );
    expect(results.map((r) => r.ok && r.transport)).toEqual(["smtp", "smtp"]);
    expect(first.batched).toEqual([["a@example.com", "b@example.com"]]);
    expect(second.sent.toSorted()).toEqual(["a@example.com", "b@example.com"]);
  });
});
