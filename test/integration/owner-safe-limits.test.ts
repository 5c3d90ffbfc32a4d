/**
 * Limits that strangers cannot turn against the owner, and refusals that do not grow the log
 * (README: Security): strangers at other addresses
 * neither spend the owner's trigger budget nor lock the owner's code, while the emails they can
 * make reach the victim stay bounded; a flood of refused triggers adds a few counted events.
 */
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { formatResetCode } from "../../projections/emails/code-format";
import { generateResetCode } from "../../src/password-reset/code";
import { flushRefusals } from "../../src/password-reset/refusals";
import { attemptsStreamOf } from "../../src/password-reset/service";
import { resetStreamOf } from "../../src/password-reset/streams";
import { limits } from "../../src/rate-limits/gcra";
import { freshIp, lastCodeTo, mapWithConcurrency, messagesTo, uniqueEmail } from "../support/e2e";
import { runtimeWithFakeMailgun } from "../support/runtime";
import { waitFor } from "../support/wait";

const AUDIT_TOKEN = "owner-safe-audit-token";
const password = "Own3r-Passw0rd!";
const newPassword = "N3w-Own3r-Passw0rd!";

const { t, fake } = runtimeWithFakeMailgun({ TRUST_PROXY: "1", AUDIT_TOKEN });

const from = (ip: string) => ({ "x-forwarded-for": ip });

async function victim(tag: string): Promise<string> {
  const email = uniqueEmail(tag);
  const res = await t.request("POST", "/v1/auth/register", { email, password }, from(freshIp()));
  expect(res.status).toBe(201);
  return email;
}

const trigger = (email: string, ip: string) =>
  t.request("POST", "/v1/auth/password-reset/trigger", { email }, from(ip));
const reset = (body: Record<string, string>, ip: string) =>
  t.request("POST", "/v1/auth/password-reset/reset", body, from(ip));

describe("strangers at other addresses cannot deny the owner a working code", () => {
  test("after strangers spent the email's budget, the owner's own trigger gets a code that works, and they cannot supersede it", async () => {
    const email = await victim("victim");
    const strangers = Array.from({ length: 6 }, freshIp);
    for (let round = 0; round < 8; round++) {
      for (const ip of strangers) await trigger(email, ip);
    }
    // Bounded: the hourly cap, plus one for each stranger's address new to the email.
    const fromStrangers = messagesTo(fake, email).length;
    expect(fromStrangers).toBeLessThanOrEqual(limits.triggerPerEmailHourly.max + strangers.length);

    const owner = freshIp();
    const mine = await trigger(email, owner);
    expect(mine.status).toBe(200);
    const code = lastCodeTo(fake, email);

    // The strangers keep trying: none of them gets an email through, so the code stays live.
    for (const ip of strangers) expect((await trigger(email, ip)).status).toBe(429);
    expect(messagesTo(fake, email).length).toBe(fromStrangers + 1);

    const done = await reset({ code, new_password: newPassword, email }, owner);
    expect(done.status).toBe(200);
  });

  test("a stranger's wrong codes with the owner's email lock nothing for the owner", async () => {
    const email = await victim("guessed");
    const owner = freshIp();
    expect((await trigger(email, owner)).status).toBe(200);
    const code = lastCodeTo(fake, email);

    const stranger = freshIp();
    for (let i = 0; i < 6; i++) {
      const wrong = formatResetCode(generateResetCode());
      const res = await reset({ code: wrong, new_password: newPassword, email }, stranger);
      expect(res.status).toBe(400);
    }
    // Locked for the stranger, even with the right code...
    expect((await reset({ code, new_password: newPassword, email }, stranger)).status).toBe(400);
    // ...but not for the owner.
    expect((await reset({ code, new_password: newPassword, email }, owner)).status).toBe(200);
  });
});

describe("refused triggers are counted, not logged one by one", () => {
  test("3,000 refused triggers add a few events to the stream; the audit shows how many", async () => {
    const email = await victim("flooded");
    const attacker = freshIp();
    const accepted = limits.triggerPerEmail.burst;
    for (let i = 0; i < accepted; i++) expect((await trigger(email, attacker)).status).toBe(200);
    const statuses = await mapWithConcurrency(
      Array.from({ length: 3000 }),
      8,
      async () => (await trigger(email, attacker)).status,
    );
    const refused = statuses.filter((s) => s === 429).length;
    expect(refused).toBe(3000);

    // What a shutdown or the periodic sweep does: the running tallies go into the log.
    await flushRefusals(t.runtime, 0);
    const streamId = await resetStreamOf(t.runtime, email);
    const { rows } = await sql<{ type: string; data: { refused?: number; reason?: string } }>`
      select type, data from events where stream_id = ${streamId} order by stream_version`.execute(
      t.runtime.db,
    );
    // Three requests and their outcomes, then per limit a logged refusal and a count or two.
    expect(rows.filter((r) => r.type === "PasswordResetRequested")).toHaveLength(accepted);
    expect(rows.length).toBeLessThanOrEqual(2 * accepted + 8);

    // Past the client's own budget the refusals are the client's, in its stream, not the email's.
    const streams = [streamId, await attemptsStreamOf(t.runtime, attacker)];
    // The audit shows events once every older transaction has ended: poll until they are there.
    const shown = await waitFor(
      async () => {
        const audit = await t.request(
          "GET",
          "/v1/audit/events?type=PasswordResetRejected&type=PasswordResetRefusalsCounted&limit=1000",
          undefined,
          { authorization: `Bearer ${AUDIT_TOKEN}` },
        );
        expect(audit.status).toBe(200);
        const events = (
          audit.json as { events: { stream: string; type: string; data: { refused?: number } }[] }
        ).events.filter((e) => streams.includes(e.stream));
        const logged = events.filter((e) => e.type === "PasswordResetRejected").length;
        const counted = events.reduce((n, e) => n + (e.data.refused ?? 0), 0);
        return logged + counted === refused && { logged, counted };
      },
      { what: "the audit to show every refusal counted" },
    );
    expect(shown.logged).toBeLessThanOrEqual(4);
  });
});
