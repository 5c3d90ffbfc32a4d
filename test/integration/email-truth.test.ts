/**
 * The log tells the truth about every email (README: Architecture): a send the service saw accepted is
 * recorded as sent however long the database is away; a send still unanswered at the deadline
 * is recorded failed with reason `unknown`; a code works only once its email is recorded sent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import type { AppContext } from "../../src/context";
import { type Database, openDatabase } from "../../src/db";
import { createLogger } from "../../src/log";
import type { Mailer } from "../../src/mail/mailer";
import { createMailgunMailer } from "../../src/mail/mailgun";
import { resetStreamOf } from "../../src/password-reset/streams";
import { createRuntime } from "../../src/runtime";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/database";
import { lastCodeTo, messagesTo } from "../support/e2e";
import { mailgunEnv } from "../support/fake-mailgun";
import { useFakeMailgun } from "../support/fixture";
import { appClient, type Send } from "../support/http";
import { testSecret, useRuntime } from "../support/runtime";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";
import { waitFor } from "../support/wait";

const password = "Truth-Passw0rd!";
const newPassword = "Changed-Passw0rd!";

const fake = useFakeMailgun();
beforeEach(async () => {
  await fake.reset();
});

type Row = { type: string; data: Record<string, unknown> };

async function streamOf(db: Database["db"], streamId: string): Promise<Row[]> {
  const { rows } = await sql<Row>`
    select type, data from events where stream_id = ${streamId} order by stream_version`.execute(
    db,
  );
  return rows;
}

describe("a provider that answers after the deadline", () => {
  const t = useRuntime(() => ({ ...mailgunEnv(fake), RESET_DISPATCH_TIMEOUT_MS: "1000" }));

  test("500, the failure recorded as unknown, and the code it carried is dead", async () => {
    const email = "late-answer@example.com";
    expect((await t.request("POST", "/v1/auth/register", { email, password })).status).toBe(201);
    // The provider takes the message at once (it reaches the user) but answers too late.
    await fake.setMode({ acceptThenDelayMs: 3_000 });
    const res = await t.request("POST", "/v1/auth/password-reset/trigger", { email });
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ error: "internal error" });

    const streamId = await resetStreamOf(t.runtime, email);
    const failed = await waitFor(async () =>
      (await streamOf(t.runtime.db, streamId)).find((e) => e.type === "PasswordResetEmailFailed"),
    );
    expect(failed.data.reason).toBe("unknown");

    const code = lastCodeTo(fake, email);
    const reset = await t.request("POST", "/v1/auth/password-reset/reset", {
      code,
      new_password: newPassword,
    });
    expect(reset.status).toBe(400);
    expect(reset.json).toEqual({ error: "invalid or expired password reset code" });
    const events = await streamOf(t.runtime.db, streamId);
    expect(events.at(-1)).toMatchObject({
      type: "PasswordResetCodeRejected",
      data: { reason: "undelivered" },
    });
    expect(events.some((e) => e.type === "PasswordResetCompleted")).toBe(false);
  });
});

describe.skipIf(!onPostgres)(
  "the database away between the provider's 2xx and the outcome's record (needs PostgreSQL over TCP)",
  () => {
    let testDb: TestDatabase;
    let proxy: TcpProxy;
    let proxied: Database;
    let runtime: AppContext;
    let request: Send;
    let logs = "";
    let cutAfterSend = false;

    beforeAll(async () => {
      testDb = await createTestDatabase();
      const direct = new URL(testDb.url as string);
      proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
      const viaProxy = new URL(direct);
      viaProxy.hostname = "127.0.0.1";
      viaProxy.port = String(proxy.port);
      proxied = await openDatabase({ databaseUrl: viaProxy.toString(), poolSize: 5 });
      const real = createMailgunMailer({ apiKey: fake.apiKey, domain: fake.domain, url: fake.url });
      // The seam: the database goes away the moment the provider's 2xx is in hand.
      const mailer: Mailer = {
        name: real.name,
        async send(message, timeoutMs) {
          const outcome = await real.send(message, timeoutMs);
          if (outcome.ok && cutAfterSend) proxy.cut();
          return outcome;
        },
      };
      const config = loadConfig({
        SECRET_KEY: testSecret(),
        ...mailgunEnv(fake),
        RESET_DISPATCH_TIMEOUT_MS: "1500",
      });
      runtime = await createRuntime(config, {
        database: proxied,
        mailer,
        log: createLogger((line) => {
          logs += line;
        }),
      });
      await runtime.start();
      request = appClient(createApp(runtime));
    });
    afterAll(async () => {
      proxy?.restore();
      await runtime?.stop();
      await proxy?.close();
      await testDb?.drop().catch(() => {});
    });

    test("the held outcome is recorded as sent once the database is back, and the code works", async () => {
      const email = "database-away@example.com";
      expect((await request("POST", "/v1/auth/register", { email, password })).status).toBe(201);
      cutAfterSend = true;
      const res = await request("POST", "/v1/auth/password-reset/trigger", { email });
      cutAfterSend = false;
      // Not confirmed in time: the answer stays 500, while the database is still away.
      expect(res.status).toBe(500);
      expect(messagesTo(fake, email)).toHaveLength(1);
      await waitFor(() => logs.includes("append failed; retrying"), {
        what: "the outcome's record to fail",
      });

      proxy.restore();
      const streamId = await resetStreamOf(runtime, email);
      const outcome = await waitFor(
        async () =>
          (await streamOf(testDb.database.db, streamId)).find(
            (e) => e.type === "PasswordResetEmailSent" || e.type === "PasswordResetEmailFailed",
          ),
        { timeoutMs: 30_000, intervalMs: 50, what: "the held outcome" },
      );
      expect(outcome.type).toBe("PasswordResetEmailSent");

      const reset = await request("POST", "/v1/auth/password-reset/reset", {
        code: lastCodeTo(fake, email),
        new_password: newPassword,
      });
      expect(reset.status).toBe(200);
      expect(reset.json).toEqual({ message: "password reset successfully", email });
    }, 60_000);
  },
);
