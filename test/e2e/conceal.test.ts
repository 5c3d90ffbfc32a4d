/**
 * RESET_UNKNOWN_EMAIL=conceal answers every address alike (README: Security): the
 * 200 body as soon as the request or its rejection is committed, before the provider has said
 * anything, and whatever it says; the email's fate is in the log.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { auditApi } from "../support/audit";
import {
  attemptsTo,
  expectAnswer,
  register,
  SENT_BODY,
  trigger,
  uniqueEmail,
  useServer,
} from "../support/e2e";
import { readAnswer } from "../support/http";
import { waitFor } from "../support/wait";

const AUDIT_TOKEN = "conceal-audit-token-0123";

describe("conceal mode: known and unknown addresses answered alike", () => {
  const { deployment, server } = useServer({
    RESET_UNKNOWN_EMAIL: "conceal",
    RATE_LIMITS: "off",
    AUDIT_TOKEN,
  });
  const known: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 8; i++) {
      const email = uniqueEmail(`known${i}`);
      await register(server.url, email);
      known.push(email);
    }
  });

  const audit = () =>
    auditApi(
      async (method, path, body, headers) =>
        readAnswer(
          await fetch(`${server.url}${path}`, {
            method,
            body: body as RequestInit["body"],
            headers,
          }),
        ),
      AUDIT_TOKEN,
      [],
    );

  test("provider answering in 200 ms: every 200 comes before the provider has answered", async () => {
    const { fake } = deployment;
    await fake.setMode({ delayMs: 200 });
    for (const email of known) {
      const stranger = uniqueEmail("stranger");
      expectAnswer(await trigger(server.url, stranger), 200, SENT_BODY);
      const res = await trigger(server.url, email);
      expectAnswer(res, 200, SENT_BODY);
      // The answer did not wait for the provider: none of this address's sends is answered yet.
      expect(attemptsTo(fake, email).filter((a) => a.outcome !== "pending")).toEqual([]);
    }
    // The emails still go out, and the log says so.
    for (const email of known) {
      await waitFor(
        async () =>
          (await audit().all(`email=${encodeURIComponent(email)}&type=PasswordResetEmailSent`))
            .length === 1,
        {
          what: `the email to ${email} recorded as sent`,
        },
      );
    }
  });

  test("provider refusing (400): known addresses still get the 200 body; the log records the failure", async () => {
    const { fake } = deployment;
    await fake.setMode({ status: 400 });
    for (const email of known.slice(0, 4)) {
      expectAnswer(await trigger(server.url, uniqueEmail("stranger")), 200, SENT_BODY);
      expectAnswer(await trigger(server.url, email), 200, SENT_BODY);
    }
    for (const email of known.slice(0, 4)) {
      await waitFor(
        async () =>
          (await audit().all(`email=${encodeURIComponent(email)}&type=PasswordResetEmailFailed`))
            .length === 1,
        { what: `the refused email to ${email} recorded as failed` },
      );
    }
    await fake.setMode("ok");
  });
});
