import { beforeEach, describe, expect, test } from "bun:test";
import { passwordResetMessage } from "../../projections/emails/catalog";
import { formatResetCode } from "../../projections/emails/code-format";
import { deliverWithRetry } from "../../src/mail/deliver";
import type { MailMessage } from "../../src/mail/mailer";
import { createMailgunMailer } from "../../src/mail/mailgun";
import { generateResetCode } from "../../src/password-reset/code";
import { type FakeMessage, firstField, startFakeMailgun } from "../support/fake-mailgun";
import { useFakeMailgun } from "../support/fixture";

const fake = useFakeMailgun();

beforeEach(async () => {
  await fake.reset();
});

function mailer(apiKey = fake.apiKey) {
  return createMailgunMailer({ apiKey, domain: fake.domain, url: fake.url });
}

function resetMessage(code = generateResetCode()): MailMessage {
  return passwordResetMessage({
    to: "user@example.com",
    from: `no-reply@${fake.domain}`,
    code,
    expiresInMinutes: 10,
  });
}

describe("mailgun mailer against the fake", () => {
  test("success sends every part and keeps the code out of headers, tags and variables", async () => {
    const code = generateResetCode();
    const shown = formatResetCode(code);
    const message = resetMessage(code);

    const outcome = await mailer().send(message, 5000);

    expect(outcome.ok).toBe(true);
    expect(fake.messages).toHaveLength(1);
    const sent = fake.messages[0] as FakeMessage;
    if (outcome.ok) expect(outcome.providerMessageId).toBe(sent.id);
    expect(sent.domain).toBe(fake.domain);
    expect(firstField(sent.fields, "to")).toBe("user@example.com");
    expect(firstField(sent.fields, "from")).toBe(`no-reply@${fake.domain}`);
    expect(firstField(sent.fields, "subject")).toBe("Reset your password");
    // multipart/form-data encoding turns every line break into CRLF, as it would for the real Mailgun.
    expect(firstField(sent.fields, "text")).toBe(message.text.replaceAll("\n", "\r\n"));
    expect(firstField(sent.fields, "html")).toBe(message.html.replaceAll("\n", "\r\n"));
    expect(firstField(sent.fields, "text")?.split("\r\n")).toContain(shown);
    expect(sent.fields["o:tag"]).toEqual(["password-reset"]);
    expect(sent.headers.authorization).toBe(`Basic ${btoa(`api:${fake.apiKey}`)}`);

    const lowerCode = code.toLowerCase();
    const leaks = (value: string) =>
      value.includes(code) || value.includes(shown) || value.toLowerCase().includes(lowerCode);
    for (const [name, values] of Object.entries(sent.fields)) {
      if (name === "text" || name === "html") continue;
      for (const value of values)
        expect({ name, leaked: leaks(value) }).toEqual({ name, leaked: false });
    }
    expect(Object.keys(sent.fields).filter((name) => /^(v|h|t|o):/.test(name))).toEqual(["o:tag"]);
    for (const [name, value] of Object.entries(sent.headers)) {
      expect({ name, leaked: leaks(value) }).toEqual({ name, leaked: false });
    }
  });

  test("several tags go out as repeated o:tag fields", async () => {
    const outcome = await mailer().send({ ...resetMessage(), tags: ["a", "b"] }, 5000);
    expect(outcome.ok).toBe(true);
    expect(fake.messages[0]?.fields["o:tag"]).toEqual(["a", "b"]);
  });

  test("a wrong key gets 401, not retryable", async () => {
    const outcome = await mailer("key-wrong").send(resetMessage(), 5000);
    expect(outcome).toEqual({ ok: false, retryable: false, reason: "unauthorized", status: 401 });
    expect(fake.messages).toHaveLength(0);
    expect(fake.attempts.map((a) => a.status)).toEqual([401]);
  });

  test("a real 400 from the server is not mistaken for a network error", async () => {
    const outcome = await mailer().send({ ...resetMessage(), to: "" }, 5000);
    expect(outcome).toEqual({ ok: false, retryable: false, reason: "rejected", status: 400 });
  });

  test("500 is retryable and carries the status", async () => {
    fake.failNext(1, { status: 500 });
    const outcome = await mailer().send(resetMessage(), 5000);
    // Mailgun's API said no: another transport may be offered the message.
    expect(outcome).toEqual({
      ok: false,
      retryable: true,
      reason: "server-error",
      status: 500,
      notTaken: true,
    });
  });

  test("429 is retryable, with the wait its Retry-After asks for", async () => {
    fake.failNext(1, { status: 429, retryAfter: "1" });
    const outcome = await mailer().send(resetMessage(), 5000);
    expect(outcome).toMatchObject({
      ok: false,
      retryable: true,
      reason: "rate-limited",
      status: 429,
    });
    expect(outcome.ok === false && outcome.retryAfterMs).toBe(1000);
    expect(fake.attempts[0]?.status).toBe(429);
  });

  test("a slow server yields a timeout within the timeout, and the request is aborted", async () => {
    await fake.setMode({ delayMs: 5000 });
    const started = performance.now();
    const outcome = await mailer().send(resetMessage(), 300);
    const elapsed = performance.now() - started;

    // Unanswered, not refused: the provider may have taken the message.
    expect(outcome).toEqual({ ok: false, retryable: true, reason: "timeout", maybeSent: true });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + 250);
    await fake.waitFor((_, attempts) => attempts[0]?.outcome === "client-aborted", 2000);
    expect(fake.messages).toHaveLength(0);
  });

  test("a refused connection yields a network outcome", async () => {
    await fake.setMode("refuse");
    const outcome = await mailer().send(resetMessage(), 2000);
    // No connection was made, so nothing can have been sent.
    expect(outcome).toEqual({
      ok: false,
      retryable: true,
      reason: "network",
      maybeSent: false,
      notTaken: true,
    });

    await fake.setMode("ok");
    expect((await mailer().send(resetMessage(), 2000)).ok).toBe(true);
  });

  test("no time left means no request", async () => {
    expect(await mailer().send(resetMessage(), 0)).toEqual({
      ok: false,
      retryable: true,
      reason: "timeout",
    });
    expect(fake.attempts).toHaveLength(0);
  });

  test("deliverWithRetry gets through two 500s and sends exactly once", async () => {
    fake.failNext(2, { status: 500 });
    const result = await deliverWithRetry(mailer(), resetMessage(), {
      deadline: Date.now() + 5000,
      baseDelayMs: 10,
    });
    expect(result.ok).toBe(true);
    expect(result.attempts).toBe(3);
    expect(fake.attempts.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(fake.messages).toHaveLength(1);
  });

  test("deliverWithRetry abandons a send still in flight at the deadline as unknown", async () => {
    await fake.setMode({ delayMs: 5000 });
    const started = Date.now();
    const result = await deliverWithRetry(mailer(), resetMessage(), { deadline: started + 400 });
    expect(result).toEqual({ ok: false, reason: "unknown", attempts: 1 });
    expect(Date.now() - started).toBeLessThan(400 + 250);
  });
});

describe("fake mailgun", () => {
  test("random mode follows its probabilities", async () => {
    const rolls = [0.1, 0.25, 0.9];
    const randomFake = await startFakeMailgun({ random: () => rolls.shift() ?? 0.9 });
    try {
      await randomFake.setMode({ random: { fail500: 0.2, fail429: 0.1, slow: 0.05, slowMs: 10 } });
      const m = createMailgunMailer({
        apiKey: randomFake.apiKey,
        domain: randomFake.domain,
        url: randomFake.url,
      });
      const statuses = [];
      for (let i = 0; i < 3; i++) {
        const outcome = await m.send(resetMessage(), 2000);
        statuses.push(outcome.ok ? 200 : outcome.status);
      }
      expect(statuses).toEqual([500, 429, 200]);
    } finally {
      await randomFake.stop();
    }
  });

  test("waitFor resolves on the message that satisfies it and rejects on timeout", async () => {
    const waiting = fake.waitFor((messages) => messages.length === 2, 3000);
    await mailer().send(resetMessage(), 2000);
    await mailer().send(resetMessage(), 2000);
    expect(await waiting).toHaveLength(2);
    await expect(fake.waitFor((messages) => messages.length === 3, 50)).rejects.toThrow(
      /not met within 50 ms/,
    );
  });

  test("runs standalone with a control API", async () => {
    const child = Bun.spawn([process.execPath, "test/support/fake-mailgun.ts", "--port", "0"], {
      stdout: "pipe",
      stderr: "inherit",
    });
    try {
      const reader = child.stdout.getReader();
      let buffered = "";
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("standalone fake exited before printing its URL");
        buffered += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      const url = buffered.trim();
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const control = (path: string, body: unknown) =>
        fetch(`${url}${path}`, { method: "POST", body: JSON.stringify(body) });
      expect((await control("/_fake/fail-next", { n: 1, status: 503 })).status).toBe(200);
      const standalone = createMailgunMailer({ apiKey: fake.apiKey, domain: fake.domain, url });
      const first = await standalone.send(resetMessage(), 2000);
      expect(first).toMatchObject({ ok: false, status: 503 });
      expect((await standalone.send(resetMessage(), 2000)).ok).toBe(true);

      const messages = (await (await fetch(`${url}/_fake/messages`)).json()) as FakeMessage[];
      expect(messages).toHaveLength(1);
      expect(messages[0]?.fields.subject).toEqual(["Reset your password"]);

      expect((await control("/_fake/mode", { status: 500 })).status).toBe(200);
      expect(await standalone.send(resetMessage(), 2000)).toMatchObject({ status: 500 });

      expect((await control("/_fake/mode", { refuseForMs: 200 })).status).toBe(200);
      expect(await standalone.send(resetMessage(), 2000)).toMatchObject({ reason: "network" });
      const until = Date.now() + 3000;
      let back = false;
      while (!back && Date.now() < until) {
        back = await fetch(`${url}/_fake/attempts`).then(
          (r) => r.ok,
          () => false,
        );
      }
      expect(back).toBe(true);
    } finally {
      child.kill();
      await child.exited;
    }
  });
});
