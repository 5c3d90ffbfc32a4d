/**
 * A crash after the provider accepted a reset email but before its outcome was recorded
 * (README: Architecture): the restarted service records the send as failed with reason `unknown`, the
 * provider may have the message, and its code does not work. Restarted before the email's
 * deadline, it does not send it again: the email was marked before the provider call.
 */
import { expect, test } from "bun:test";
import {
  auditEvents,
  codeOf,
  expectError,
  messagesTo,
  register,
  trigger,
  uniqueEmail,
  useDeployment,
} from "../support/e2e";
import type { FakeMessage } from "../support/fake-mailgun";
import { postJson } from "../support/server";
import { waitFor } from "../support/wait";

const AUDIT_TOKEN = "audit-token-for-the-crash-test";
const DISPATCH_TIMEOUT_MS = 1_500;

const deployment = useDeployment({
  RESET_DISPATCH_TIMEOUT_MS: String(DISPATCH_TIMEOUT_MS),
  AUDIT_TOKEN,
});

test("kill -9 after the provider took the message: the outcome is recorded unknown and the code is dead", async () => {
  const { fake } = deployment;
  const first = await deployment.start();
  const email = uniqueEmail("crash");
  await register(first.url, email);

  // The provider takes the message at once and answers long after the process is gone.
  await fake.setMode({ acceptThenDelayMs: 60_000 });
  const answer = trigger(first.url, email).catch((error: unknown) => error);
  await fake.waitFor(() => messagesTo(fake, email).length > 0);
  const message = messagesTo(fake, email)[0];
  await first.kill();
  await answer;
  await fake.setMode("ok");
  const receivedAt = message?.receivedAt ?? Date.now();

  // Restart only once the request's dispatch deadline has passed: no send can be tried again.
  await waitFor(() => Date.now() > receivedAt + DISPATCH_TIMEOUT_MS, {
    what: "the dispatch deadline to pass",
  });
  const second = await deployment.start();
  const failed = await waitFor(
    async () =>
      (await auditEvents(second.url, email, AUDIT_TOKEN)).find(
        (e) => e.type === "PasswordResetEmailFailed",
      ),
    { timeoutMs: 30_000, intervalMs: 100, what: "the outcome found at restart" },
  );
  expect(failed.data.reason).toBe("unknown");
  const events = await auditEvents(second.url, email, AUDIT_TOKEN);
  expect(events.filter((e) => e.type === "PasswordResetEmailSent")).toHaveLength(0);

  // The user has the email, but its code never works.
  const code = codeOf(messagesTo(fake, email)[0] as FakeMessage);
  const reset = await postJson(`${second.url}/v1/auth/password-reset/reset`, {
    code,
    new_password: "After-Crash-Passw0rd!",
  });
  expectError(reset, 400, "invalid or expired password reset code");
}, 90_000);

test("kill -9 after the provider took the message, restart before its deadline: never sent twice", async () => {
  const { fake } = deployment;
  // One server at a time on the deployment's database: the one that is killed owns the mailer.
  await Promise.allSettled(deployment.servers.map((server) => server.stop()));
  const patient = { RESET_DISPATCH_TIMEOUT_MS: "60000" };
  const first = await deployment.start(patient);
  const email = uniqueEmail("crash-early");
  await register(first.url, email);

  await fake.setMode({ acceptThenDelayMs: 120_000 });
  const answer = trigger(first.url, email).catch((error: unknown) => error);
  await fake.waitFor(() => messagesTo(fake, email).length > 0);
  await first.kill();
  await answer;
  await fake.setMode("ok");

  // The request is redelivered to the new process long before its deadline, and not sent again.
  const second = await deployment.start(patient);
  const failed = await waitFor(
    async () =>
      (await auditEvents(second.url, email, AUDIT_TOKEN)).find(
        (e) => e.type === "PasswordResetEmailFailed",
      ),
    { timeoutMs: 30_000, intervalMs: 100, what: "the outcome found at restart" },
  );
  expect(failed.data.reason).toBe("unknown");
  const requested = (await auditEvents(second.url, email, AUDIT_TOKEN)).find(
    (e) => e.type === "PasswordResetRequested",
  );
  expect(Date.parse(String(requested?.data.dispatchDeadline))).toBeGreaterThan(Date.now());
  expect(messagesTo(fake, email)).toHaveLength(1);
  expect(fake.attempts.filter((a) => JSON.stringify(a).includes(email))).toHaveLength(1);
}, 90_000);
