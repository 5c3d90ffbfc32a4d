import { describe, expect, test } from "bun:test";
import { MailBatcher } from "../../src/mail/batch";
import type {
  MailBatch,
  Mailer,
  MailMessage,
  MailTemplate,
  SendOutcome,
} from "../../src/mail/mailer";

const template: MailTemplate = {
  from: "no-reply@mg.example.test",
  subject: "Reset your password",
  text: "Your code:\n%recipient.code%\n",
  html: "<p>%recipient.code%</p>",
  tags: ["password-reset"],
};

const recipient = (i: number) => ({ to: `u${i}@example.com`, variables: { code: `CODE-${i}` } });

/** A mailer whose calls wait for the test to release them, recording what each carried. */
function gatedMailer(options: { batches?: boolean } = {}) {
  const calls: { to: string[]; text: string }[] = [];
  const gates: (() => void)[] = [];
  const answer = (): Promise<SendOutcome> =>
    new Promise((resolve) =>
      gates.push(() => resolve({ ok: true, providerMessageId: `<${calls.length}@mg>` })),
    );
  const mailer: Mailer = {
    name: "gated",
    send(message: MailMessage) {
      calls.push({ to: [message.to], text: message.text });
      return answer();
    },
  };
  if (options.batches !== false) {
    mailer.sendBatch = (batch: MailBatch) => {
      calls.push({ to: batch.recipients.map((r) => r.to), text: batch.text });
      return answer();
    };
  }
  const releaseAll = () => {
    for (const open of gates.splice(0)) open();
  };
  return { mailer, calls, gates, releaseAll };
}

/** Polls, yielding to timers and I/O, until the check holds or five seconds pass. */
async function until(check: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + 5_000;
  while (!check() && Date.now() < giveUpAt) await new Promise((r) => setTimeout(r, 0));
  expect(check()).toBe(true);
}

describe("MailBatcher", () => {
  test("while every call slot is busy, the queue grows into one bigger batch", async () => {
    const m = gatedMailer();
    const batcher = new MailBatcher(m.mailer, { callsInFlight: 1 });
    const deadline = Date.now() + 60_000;
    const first = batcher.send(template, recipient(0), deadline);
    await until(() => m.calls.length === 1);
    const rest = [1, 2, 3].map((i) => batcher.send(template, recipient(i), deadline));
    await until(() => m.gates.length === 1);
    m.releaseAll();
    await first;
    await until(() => m.calls.length === 2);
    expect(m.calls[1]?.to).toEqual(["u1@example.com", "u2@example.com", "u3@example.com"]);
    m.releaseAll();
    const results = await Promise.all(rest);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
  });

  test("a message still queued at its deadline is never sent and fails as deadline", async () => {
    const m = gatedMailer();
    let clock = 1_000_000;
    const batcher = new MailBatcher(m.mailer, { callsInFlight: 1, now: () => clock });
    const first = batcher.send(template, recipient(0), clock + 60_000);
    await until(() => m.calls.length === 1);
    const late = batcher.send(template, recipient(1), clock + 100);
    clock += 100;
    m.releaseAll();
    await first;
    expect(await late).toEqual({ ok: false, reason: "deadline", attempts: 0 });
    expect(m.calls.flatMap((c) => c.to)).toEqual(["u0@example.com"]);
  });

  test("a provider without batch sending gets each message rendered for its recipient", async () => {
    const m = gatedMailer({ batches: false });
    const batcher = new MailBatcher(m.mailer);
    const deadline = Date.now() + 60_000;
    const sends = [0, 1].map((i) => batcher.send(template, recipient(i), deadline));
    await until(() => m.calls.length === 2);
    m.releaseAll();
    await Promise.all(sends);
    expect(m.calls).toEqual([
      { to: ["u0@example.com"], text: "Your code:\nCODE-0\n" },
      { to: ["u1@example.com"], text: "Your code:\nCODE-1\n" },
    ]);
  });

  test("a batch's messages are marked before the call that carries them, once", async () => {
    const m = gatedMailer();
    const order: string[] = [];
    const batcher = new MailBatcher(m.mailer, {
      callsInFlight: 1,
      async mark(ids) {
        order.push(`mark ${ids.join(",")} with ${m.calls.length} calls made`);
      },
    });
    const deadline = Date.now() + 60_000;
    const first = batcher.send(template, recipient(0), deadline, "id-0");
    await until(() => m.calls.length === 1);
    const rest = [1, 2].map((i) => batcher.send(template, recipient(i), deadline, `id-${i}`));
    await until(() => m.gates.length === 1);
    m.releaseAll();
    await first;
    await until(() => m.calls.length === 2);
    m.releaseAll();
    await Promise.all(rest);
    expect(order).toEqual(["mark id-0 with 0 calls made", "mark id-1,id-2 with 1 calls made"]);
  });

  test("while marking fails nothing is sent; marked at last, the batch goes once", async () => {
    const m = gatedMailer();
    let failures = 2;
    const batcher = new MailBatcher(m.mailer, {
      markRetryMs: 1,
      async mark() {
        if (failures-- > 0) throw new Error("database away");
        expect(m.calls).toHaveLength(0);
      },
    });
    const send = batcher.send(template, recipient(0), Date.now() + 60_000, "id-0");
    await until(() => m.calls.length === 1);
    m.releaseAll();
    expect((await send).ok).toBe(true);
    expect(failures).toBe(-1);
    expect(m.calls).toHaveLength(1);
  });

  test("a batch that cannot be marked before its deadline is never sent", async () => {
    const m = gatedMailer();
    let clock = 1_000_000;
    let marks = 0;
    const batcher = new MailBatcher(m.mailer, {
      now: () => clock,
      markRetryMs: 1,
      async mark() {
        marks++;
        clock += 50;
        throw new Error("database away");
      },
    });
    const result = await batcher.send(template, recipient(0), clock + 200, "id-0");
    expect(result).toEqual({ ok: false, reason: "deadline", attempts: 0 });
    expect(marks).toBeGreaterThan(1);
    expect(m.calls).toHaveLength(0);
  });
});
