/**
 * RESET_UNKNOWN_EMAIL=conceal (README: Security): up to its answer, an unknown email's trigger
 * does what a known one's does — the same statements in the same order, rows of the same shape,
 * and an event of the same size — while the log says only what happened: a padded rejection.
 * The answer times themselves are measured by `npm run bench:conceal`, not here.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { resetStreamOf } from "../../src/password-reset/streams";
import { auditApi, waitForAuditHorizon } from "../support/audit";
import { PASSWORD, SENT_BODY, uniqueEmail } from "../support/e2e";
import { useRuntime } from "../support/runtime";

const TOKEN = "conceal-work-audit-token";
/** The statements run while a trigger is recorded; undefined between recordings. */
let recording: string[] | undefined;

const t = useRuntime(
  { RESET_UNKNOWN_EMAIL: "conceal", RATE_LIMITS: "off", AUDIT_TOKEN: TOKEN },
  // Nothing in the background (no mailer, no sweeps): every statement is the trigger's.
  { onQuery: (text) => recording?.push(text), start: false },
);

const trigger = (email: string) =>
  t.request("POST", "/v1/auth/password-reset/trigger", { email }, { "user-agent": "conceal/1.0" });

async function statementsOf(email: string): Promise<string[]> {
  recording = [];
  const res = await trigger(email);
  const ran = recording;
  recording = undefined;
  expect({ email, status: res.status, body: res.json }).toEqual({
    email,
    status: 200,
    body: SENT_BODY,
  });
  return ran;
}

async function register(email: string) {
  const res = await t.request("POST", "/v1/auth/register", { email, password: PASSWORD });
  expect(res.status).toBe(201);
}

/** The data of the one event of the email's reset stream. */
async function onlyEvent(email: string) {
  const streamId = await resetStreamOf(t.runtime, email);
  const events = await t.runtime.store.readStream(streamId);
  expect(events).toHaveLength(1);
  return events[0] as (typeof events)[number];
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe("conceal mode: an unknown email's trigger does a known one's work", () => {
  // Addresses of one length, so the sealed email weighs the same in both.
  const known = uniqueEmail("known");
  const unknown = uniqueEmail("stray");

  beforeAll(async () => {
    await register(known);
    // The first trigger of the day makes the IP-hash key: done before anything is compared.
    await trigger(uniqueEmail("warms"));
  });

  test("the same statements, in the same order, the request's writes in the append's one statement", async () => {
    const knownRan = await statementsOf(known);
    const unknownRan = await statementsOf(unknown);
    const append = knownRan.find((s) => /insert into events\b/.test(s));
    expect(append).toBeDefined();
    expect(append).toMatch(/insert into "?reset_codes\b/);
    expect(append).toMatch(/insert into "?reset_code_keys\b/);
    expect(unknownRan).toEqual(knownRan);
  });

  test("the rejection is as large as the request and says only that the email is unknown; its decoy rows match nothing", async () => {
    const request = await onlyEvent(known);
    const rejection = await onlyEvent(unknown);
    expect(request.type).toBe("PasswordResetRequested");
    expect(rejection.type).toBe("PasswordResetRejected");
    expect(jsonBytes(rejection.data)).toBe(jsonBytes(request.data));
    const { padding, ...said } = rejection.data as Record<string, unknown>;
    expect(padding).toMatch(/^0+$/);
    expect(Object.keys(said).sort()).toEqual(["ipHash", "reason", "requestId"]);
    expect(said.reason).toBe("unknown_email");

    // Rows of the request's shape, of no account: a code that is expired and matches no code
    // anyone holds, and a key that opens nothing in the log.
    const { db } = t.runtime;
    const rowsOf = async (requestId: string) => {
      const { rows } = await sql<{
        user_id: string;
        live: boolean;
        account: boolean;
        key: boolean;
      }>`
        select c.user_id::text, c.expires_at > c.requested_at as live,
               exists (select 1 from users u where u.id = c.user_id) as account,
               exists (select 1 from reset_code_keys k where k.request_id = c.request_id) as key
        from reset_codes c where c.request_id = ${requestId}::uuid`.execute(db);
      return rows;
    };
    const knownData = request.data as { requestId: string; userId: string };
    expect(await rowsOf(knownData.requestId)).toEqual([
      { user_id: knownData.userId, live: true, account: true, key: true },
    ]);
    const decoys = await rowsOf(said.requestId as string);
    expect(decoys).toMatchObject([{ live: false, account: false, key: true }]);
    expect(JSON.stringify(rejection.data)).not.toContain(decoys[0]?.user_id ?? "none");

    // The auditors see the rejection without its padding, once the audit's horizon passes it.
    await waitForAuditHorizon(db);
    const [shown, ...more] = await auditApi(t.request, TOKEN, []).all(
      `email=${encodeURIComponent(unknown)}`,
    );
    expect(more).toEqual([]);
    expect(shown?.type).toBe("PasswordResetRejected");
    expect(Object.keys(shown?.data ?? {}).sort()).toEqual(["ipHash", "reason", "requestId"]);
  });
});
