import { describe, expect, test } from "bun:test";
import { MAIL_CATCHER_CAPACITY, MailCatcher } from "../../src/mail/catcher";
import { createConsoleMailer } from "../../src/mail/console";
import type { MailMessage } from "../../src/mail/mailer";

const message = (n: number): MailMessage => ({
  to: `user${n}@example.com`,
  from: "no-reply@localhost",
  subject: `Subject ${n}`,
  text: `text ${n}`,
  html: `<p>html ${n}</p>`,
  tags: ["password-reset"],
});

describe("MailCatcher", () => {
  test("lists newest first, with increasing ids and the time and provider id given", () => {
    const catcher = new MailCatcher();
    const at = new Date("2026-01-31T09:30:00Z");
    catcher.keep(message(1), "console-1", at);
    catcher.keep(message(2), "console-2", at);
    expect(catcher.list()).toEqual([
      { ...message(2), id: 2, sentAt: at, providerMessageId: "console-2" },
      { ...message(1), id: 1, sentAt: at, providerMessageId: "console-1" },
    ]);
  });

  test("keeps the last 100 only, dropping the oldest", () => {
    const catcher = new MailCatcher();
    const total = MAIL_CATCHER_CAPACITY + 5;
    for (let n = 1; n <= total; n++) catcher.keep(message(n), `console-${n}`);
    const kept = catcher.list();
    expect(MAIL_CATCHER_CAPACITY).toBe(100);
    expect(kept).toHaveLength(100);
    expect(kept[0]?.subject).toBe(`Subject ${total}`);
    expect(kept.at(-1)?.subject).toBe("Subject 6");
    expect(kept.map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => total - i));
  });

  test("a kept message is a copy: changing the sender's object changes nothing kept", () => {
    const catcher = new MailCatcher();
    const sent = message(1);
    catcher.keep(sent, "console-1");
    sent.tags.push("changed");
    sent.subject = "changed";
    expect(catcher.list()[0]).toMatchObject({ subject: "Subject 1", tags: ["password-reset"] });
  });
});

describe("console mailer with a catcher", () => {
  test("keeps each message it printed, under the provider id it answered", async () => {
    const catcher = new MailCatcher();
    const mailer = createConsoleMailer(() => {}, catcher);
    const outcome = await mailer.send(message(1), 1000);
    expect(outcome.ok).toBe(true);
    const [kept] = catcher.list();
    expect(kept).toMatchObject({ ...message(1), id: 1 });
    expect(outcome.ok && outcome.providerMessageId).toBe(kept?.providerMessageId as string);
  });

  test("keeps nothing it failed to print: that email was not sent", async () => {
    const catcher = new MailCatcher();
    const mailer = createConsoleMailer(() => {
      throw new Error("EPIPE");
    }, catcher);
    expect((await mailer.send(message(1), 1000)).ok).toBe(false);
    expect(catcher.list()).toEqual([]);
  });
});
