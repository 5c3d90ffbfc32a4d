import { describe, expect, test } from "bun:test";
import { passwordChangedMessage, passwordResetMessage } from "../../projections/emails/catalog";
import { formatResetCode } from "../../projections/emails/code-format";
import { createConsoleMailer } from "../../src/mail/console";
import { generateResetCode } from "../../src/password-reset/code";

const to = "user@example.com";
const from = "no-reply@mg.example.test";

describe("passwordResetMessage", () => {
  const code = generateResetCode();
  const shown = formatResetCode(code);
  const message = passwordResetMessage({ to, from, code, expiresInMinutes: 10 });

  test("addresses, subject and tag", () => {
    expect(message.to).toBe(to);
    expect(message.from).toBe(from);
    expect(message.subject).toBe("Reset your password");
    expect(message.tags).toEqual(["password-reset"]);
  });

  test("text part has the grouped code alone on exactly one line", () => {
    const lines = message.text.split("\n");
    expect(lines.filter((line) => line === shown)).toHaveLength(1);
    const mentioning = lines.filter((line) => line.includes(shown) || line.includes(code));
    expect(mentioning).toEqual([shown]);
  });

  test("text part says how long the code lives", () => {
    expect(message.text).toContain("10 minutes");
    expect(passwordResetMessage({ to, from, code, expiresInMinutes: 1 }).text).toContain(
      "1 minute ",
    );
  });

  test("html part has the code", () => {
    expect(message.html).toContain(shown);
    expect(message.html).toContain("<html");
  });

  test("the code is nowhere but the two bodies", () => {
    for (const value of [message.subject, message.to, message.from, ...message.tags]) {
      expect(value).not.toContain(code);
      expect(value).not.toContain(shown);
    }
  });

  test("html-escapes the code", () => {
    const hostile = passwordResetMessage({ to, from, code: "<b>&'\"", expiresInMinutes: 10 });
    expect(hostile.html).toContain("&lt;B&gt;&amp;-&#39;&quot;");
    expect(hostile.html).not.toContain("<B>");
  });
});

describe("passwordChangedMessage", () => {
  const message = passwordChangedMessage({ to, from });

  test("addresses, subject, tag and both parts", () => {
    expect(message.to).toBe(to);
    expect(message.from).toBe(from);
    expect(message.subject).toBe("Your password was changed");
    expect(message.tags).toEqual(["password-changed"]);
    expect(message.text.length).toBeGreaterThan(0);
    expect(message.html).toContain("<html");
  });

  test("carries nothing that looks like a code", () => {
    expect(`${message.text}${message.html}`).not.toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}/);
  });
});

describe("console mailer", () => {
  test("prints to, subject and text in one write and reports success", async () => {
    const writes: string[] = [];
    const mailer = createConsoleMailer((s) => {
      writes.push(s);
    });
    const code = generateResetCode();
    const outcome = await mailer.send(
      passwordResetMessage({ to, from, code, expiresInMinutes: 10 }),
      1000,
    );
    expect(mailer.name).toBe("console");
    expect(outcome.ok).toBe(true);
    if (outcome.ok) expect(outcome.providerMessageId).toMatch(/^console-[0-9a-f-]{36}$/);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toContain(`To: ${to}`);
    expect(writes[0]).toContain("Subject: Reset your password");
    expect(writes[0]).toContain(formatResetCode(code));
  });

  test("a failing stream becomes a non-retryable outcome, not a throw", async () => {
    const mailer = createConsoleMailer(() => {
      throw new Error("EPIPE");
    });
    const outcome = await mailer.send(passwordChangedMessage({ to, from }), 1000);
    expect(outcome).toEqual({ ok: false, retryable: false, reason: "console-write-failed" });
  });
});
