/**
 * The transports of MAIL_TRANSPORTS (README: Email): SMTP to a real SMTP server, the signed
 * hook to a receiver verifying it with the Standard Webhooks library, and failover from Mailgun
 * to SMTP only when Mailgun surely did not take the message.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { createServer } from "node:net";
import { Webhook } from "standardwebhooks";
import {
  type AuditEvent,
  auditEvents,
  codeOf,
  expectAnswer,
  freshIp,
  mapWithConcurrency,
  messagesTo,
  register,
  SENT_BODY,
  SHOWN_CODE,
  trigger,
  uniqueEmail,
  useDeployment,
} from "../support/e2e";
import { postJson, type ServerProcess } from "../support/server";
import { codesIn, type SmtpCatcher, startSmtpCatcher } from "../support/smtp-catcher";
import { waitFor } from "../support/wait";

const AUDIT_TOKEN = "audit-token-for-the-transport-tests";
const RESET = "/v1/auth/password-reset/reset";
const NEW_PASSWORD = "Another-Passw0rd!";
const HOOK_SECRET = `whsec_${Buffer.from("a hook secret of thirty-two bytes").toString("base64")}`;

let smtp: SmtpCatcher;
let server: ServerProcess | undefined;

beforeAll(async () => {
  smtp = await startSmtpCatcher();
});
const deployment = useDeployment(() => ({ AUDIT_TOKEN, SMTP_URL: smtp.url, TRUST_PROXY: "1" }));
afterEach(async () => {
  await server?.stop();
  server = undefined;
  await deployment.fake.setMode("ok");
});
afterAll(async () => {
  await smtp?.stop();
});

/** The reset email's outcome event, once recorded. */
function outcomeOf(baseUrl: string, email: string): Promise<AuditEvent> {
  return waitFor(
    async () =>
      (await auditEvents(baseUrl, email, AUDIT_TOKEN)).find((e) =>
        e.type.startsWith("PasswordResetEmail"),
      ),
    { timeoutMs: 20_000, intervalMs: 50, what: `the outcome of ${email}'s reset email` },
  );
}

async function start(env: Record<string, string>): Promise<ServerProcess> {
  server = await deployment.start(env);
  return server;
}

async function resetsWith(baseUrl: string, email: string, code: string): Promise<void> {
  const reset = await postJson(`${baseUrl}${RESET}`, { code, new_password: NEW_PASSWORD });
  expectAnswer(reset, 200, { message: "password reset successfully", email });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", () => resolve()));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

test("smtp: the code arrives through a real SMTP server and works", async () => {
  const { url } = await start({ MAIL_TRANSPORTS: "smtp" });
  const email = uniqueEmail("smtp");
  await register(url, email);
  expectAnswer(await trigger(url, email), 200, SENT_BODY);

  const mails = smtp.mailsTo(email);
  expect(mails).toHaveLength(1);
  const mail = mails[0];
  expect(mail?.to).toEqual([email]);
  expect(mail?.from).toBe(`no-reply@${deployment.fake.domain}`);
  const codes = codesIn(mail as NonNullable<typeof mail>);
  expect(codes).toHaveLength(1);
  const sent = await outcomeOf(url, email);
  expect(sent.type).toBe("PasswordResetEmailSent");
  expect(sent.data.provider).toBe("smtp");
  expect(messagesTo(deployment.fake, email)).toHaveLength(0);
  await resetsWith(url, email, codes[0] as string);
});

test("smtp: a server refusing RCPT gives a failed event, and no code reaches anyone", async () => {
  const { url } = await start({ MAIL_TRANSPORTS: "smtp" });
  const email = uniqueEmail("smtp-refused");
  await register(url, email);
  smtp.refuseRecipients([email]);
  const answer = await trigger(url, email);
  expect(answer.status).not.toBe(200);

  const failed = await outcomeOf(url, email);
  expect(failed.type).toBe("PasswordResetEmailFailed");
  expect(failed.data).toMatchObject({ reason: "rejected", status: 550 });
  expect(smtp.mailsTo(email)).toHaveLength(0);
});

test("hook: a receiver verifying each request with standardwebhooks gets the message", async () => {
  const received: { body: string; headers: Record<string, string> }[] = [];
  const receiver = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const body = await request.text();
      const headers = Object.fromEntries(request.headers.entries());
      received.push({ body, headers });
      try {
        new Webhook(HOOK_SECRET).verify(body, headers);
        return new Response(null, { status: 204 });
      } catch {
        return new Response("bad signature", { status: 401 });
      }
    },
  });
  try {
    const { url } = await start({
      MAIL_TRANSPORTS: "hook",
      MAIL_HOOK_URL: `http://127.0.0.1:${receiver.port}/email`,
      MAIL_HOOK_SECRET: HOOK_SECRET,
    });
    const email = uniqueEmail("hook");
    await register(url, email);
    expectAnswer(await trigger(url, email), 200, SENT_BODY);

    expect(received).toHaveLength(1);
    const request = received[0] as (typeof received)[number];
    expect(request.headers["webhook-signature"]).toStartWith("v1,");
    const payload = new Webhook(HOOK_SECRET).verify(request.body, request.headers) as Record<
      string,
      unknown
    >;
    const { kind, locale, recipient, subject, text, html, request_id, code } = payload;
    expect({ kind, locale, recipient }).toEqual({
      kind: "password-reset",
      locale: "en",
      recipient: email,
    });
    for (const part of [subject, text, html, request_id]) expect(typeof part).toBe("string");
    expect(code).toMatch(SHOWN_CODE);
    expect(text).toContain(code as string);
    expect(html).toContain(code as string);
    // Signed with another secret, the same request does not verify.
    const otherSecret = `whsec_${Buffer.from("another secret, thirty-two bytes").toString("base64")}`;
    expect(() => new Webhook(otherSecret).verify(request.body, request.headers)).toThrow();

    const sent = await outcomeOf(url, email);
    expect(sent.data.provider).toBe("hook");
    await resetsWith(url, email, code as string);
  } finally {
    await receiver.stop(true);
  }
});

test("failover: Mailgun's port closed, the email arrives by SMTP and the event says smtp", async () => {
  const { url } = await start({
    MAIL_TRANSPORTS: "mailgun,smtp",
    MAILGUN_URL: `http://127.0.0.1:${await closedPort()}`,
  });
  const email = uniqueEmail("failover-closed");
  await register(url, email);
  expectAnswer(await trigger(url, email), 200, SENT_BODY);

  const [mail] = smtp.mailsTo(email);
  const sent = await outcomeOf(url, email);
  expect(sent.type).toBe("PasswordResetEmailSent");
  expect(sent.data.provider).toBe("smtp");
  await resetsWith(url, email, codesIn(mail as NonNullable<typeof mail>)[0] as string);
});

test("failover: Mailgun answering 503, the email goes by SMTP", async () => {
  const { fake } = deployment;
  const { url } = await start({ MAIL_TRANSPORTS: "mailgun,smtp" });
  const email = uniqueEmail("failover-503");
  await register(url, email);
  await fake.setMode({ status: 503 });
  expectAnswer(await trigger(url, email), 200, SENT_BODY);

  expect(smtp.mailsTo(email)).toHaveLength(1);
  expect(messagesTo(fake, email)).toHaveLength(0);
  expect((await outcomeOf(url, email)).data.provider).toBe("smtp");
  // Each transport is counted under its own name.
  const metrics = await (await fetch(server?.metricsUrl ?? "")).text();
  expect(metrics).toMatch(/^email_sends_total\{mailer="mailgun",result="refused"\} [1-9]/m);
  expect(metrics).toMatch(/^email_sends_total\{mailer="smtp",result="accepted"\} 1$/m);
});

test("failover: Mailgun taking the message and answering after the deadline is unknown, and nothing reaches SMTP", async () => {
  const { fake } = deployment;
  const { url } = await start({
    MAIL_TRANSPORTS: "mailgun,smtp",
    RESET_DISPATCH_TIMEOUT_MS: "1000",
  });
  const email = uniqueEmail("failover-unknown");
  await register(url, email);
  await fake.setMode({ acceptThenDelayMs: 4_000 });
  await trigger(url, email);

  const failed = await outcomeOf(url, email);
  expect(failed.type).toBe("PasswordResetEmailFailed");
  expect(failed.data.reason).toBe("unknown");
  expect(messagesTo(fake, email)).toHaveLength(1);
  expect(smtp.mailsTo(email)).toHaveLength(0);
});

test("failover: 200 concurrent triggers with Mailgun failing half its calls with 503, every user gets exactly one email", async () => {
  const { fake } = deployment;
  const { url } = await start({ MAIL_TRANSPORTS: "mailgun,smtp", RATE_LIMITS: "off" });
  const emails = Array.from({ length: 200 }, (_, i) => uniqueEmail(`failover-load-${i}`));
  await mapWithConcurrency(emails, 16, (email) => register(url, email));
  await fake.setMode({ random: { fail503: 0.5 } });
  // The first calls fail for sure, so some emails go by SMTP however the batches fall.
  fake.failNext(20, { status: 503 });
  const answers = await Promise.all(
    emails.map((email) => trigger(url, email, { "x-forwarded-for": freshIp() })),
  );
  expect(answers.filter((a) => a.status !== 200)).toEqual([]);

  const counts = emails.map((email) => messagesTo(fake, email).length + smtp.mailsTo(email).length);
  expect(counts.filter((n) => n !== 1)).toEqual([]);
  // Both transports took some: the failover did happen.
  expect(emails.some((email) => smtp.mailsTo(email).length === 1)).toBe(true);
  expect(emails.some((email) => messagesTo(fake, email).length === 1)).toBe(true);
  for (const email of emails.slice(0, 3)) {
    const mailgun = messagesTo(fake, email)[0];
    const caught = smtp.mailsTo(email)[0];
    const code = mailgun ? codeOf(mailgun) : codesIn(caught as NonNullable<typeof caught>)[0];
    expect(code).toMatch(SHOWN_CODE);
  }
}, 240_000); // Registering 200 accounts hashes 200 passwords first.
