/**
 * Several server processes on one PostgreSQL database (the embedded database is single-process):
 * the reset mailer sends each requested code exactly once however the triggers are spread, and
 * a process killed mid-send is replaced without a second outcome, a second email, or a late send.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { onPostgres } from "../support/database";
import {
  allAttemptsSettled,
  codeOf,
  expectAnswer,
  expectNoCodesIn,
  type HttpResult,
  mapWithConcurrency,
  messagesTo,
  recipientOf,
  register,
  SENT_BODY,
  trigger,
  uniqueEmail,
  useDeployment,
} from "../support/e2e";
import type { FakeMessage } from "../support/fake-mailgun";
import type { ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

interface RequestedRow {
  requestId: string;
  userId: string;
  dispatchDeadline: string;
}

interface OutcomeRow {
  type: "PasswordResetEmailSent" | "PasswordResetEmailFailed";
  requestId: string;
  reason: string | null;
}

/** The reset requests and their email outcomes, straight from the `events` table. */
async function readResetLog(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const requested = await client.query<RequestedRow>(
      `select data->>'requestId' as "requestId", data->>'userId' as "userId",
              data->>'dispatchDeadline' as "dispatchDeadline"
         from events where type = 'PasswordResetRequested' order by global_position`,
    );
    const outcomes = await client.query<OutcomeRow>(
      `select type, data->>'requestId' as "requestId", data->>'reason' as reason
         from events
        where type in ('PasswordResetEmailSent', 'PasswordResetEmailFailed')
        order by global_position`,
    );
    return { requested: requested.rows, outcomes: outcomes.rows };
  } finally {
    await client.end();
  }
}

function groupBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item) ?? "";
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

describe.skipIf(!onPostgres)("two server processes on one PostgreSQL (TEST_DATABASE_URL)", () => {
  const USERS = 100;
  const deployment = useDeployment({ RATE_LIMITS: "off" });
  let servers: ServerProcess[];

  beforeAll(async () => {
    servers = [await deployment.start(), await deployment.start()];
  });

  // Guards the early start of fresh commits: an event the scan already dispatched must not be
  // started again by its commit signal (that would send its email twice).
  test("100 triggers spread across both: every 200 has exactly one accepted email, no address two", async () => {
    const { fake } = deployment;
    const emails = Array.from({ length: USERS }, (_, i) => uniqueEmail(`spread-${i}`));
    await mapWithConcurrency(emails, 10, (email, i) =>
      register((servers[i % 2] as ServerProcess).url, email),
    );

    // Each trigger goes to the other server than the one its user registered on.
    const results = await mapWithConcurrency(emails, 10, async (email, i) => {
      const res = await trigger((servers[(i + 1) % 2] as ServerProcess).url, email);
      // A 200 is answered only once the email was accepted, whichever process sent it.
      return { email, res, acceptedAtAnswer: messagesTo(fake, email).length };
    });

    for (const { email, res, acceptedAtAnswer } of results) {
      expect({ email, status: res.status, body: res.json, acceptedAtAnswer }).toEqual({
        email,
        status: 200,
        body: SENT_BODY,
        acceptedAtAnswer: 1,
      });
    }

    await allAttemptsSettled(fake);
    const perAddress = groupBy(fake.messages, (m) => recipientOf(m.fields));
    const twice = [...perAddress].filter(([, sent]) => sent.length !== 1).map(([to]) => to);
    expect(twice).toEqual([]);
    expect([...perAddress.keys()].sort()).toEqual([...emails].sort());

    const codes = deployment.emailedCodes();
    expect(new Set(codes).size).toBe(USERS);
    for (const server of servers) expectNoCodesIn(server.output(), codes);
  });

  // The per-process turn-taking does not serialise two processes: their collisions must be
  // decided again (with jittered backoff), never surface as a 500.
  test("version race across processes: 20 concurrent triggers of one email, half on each server, all 200", async () => {
    const { fake } = deployment;
    const email = uniqueEmail("contended");
    await register((servers[0] as ServerProcess).url, email);

    // The two processes race for the end of one reset stream: a lost race is decided again.
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => trigger((servers[i % 2] as ServerProcess).url, email)),
    );

    expect(answers.map((res) => res.status)).toEqual(Array(20).fill(200));
    for (const res of answers) expectAnswer(res, 200, SENT_BODY);
    await allAttemptsSettled(fake);
    const codes = messagesTo(fake, email).map(codeOf);
    expect(codes).toHaveLength(20);
    expect(new Set(codes).size).toBe(20);
  });
});

describe.skipIf(!onPostgres)("kill -9 mid-send, then a restart (needs TEST_DATABASE_URL)", () => {
  const USERS = 20;
  const deployment = useDeployment({ RATE_LIMITS: "off" });

  test("every request ends with exactly one outcome, one code per address, no send after its deadline", async () => {
    const { fake } = deployment;
    const databaseUrl = deployment.databaseUrl as string;
    const first = await deployment.start();
    const emails = Array.from({ length: USERS }, (_, i) => uniqueEmail(`killed-${i}`));
    const users = await mapWithConcurrency(emails, 10, (email) => register(first.url, email));
    const emailOfUser = new Map(users.map((user, i) => [user.id, emails[i] as string]));

    // A slow provider, so that sends are held open when the process dies.
    await fake.setMode({ delayMs: 400 });
    const inFlight: Promise<{ email: string; res?: HttpResult; error?: unknown }>[] = emails.map(
      (email) =>
        trigger(first.url, email).then(
          (res) => ({ email, res }),
          (error: unknown) => ({ email, error }),
        ),
    );
    // Kill the moment the provider accepts the first message: the server has not heard the
    // answer yet, and the other sends are still held open.
    await fake.waitFor((messages) => messages.length >= 1, 15_000);
    await first.kill();
    const attemptsBeforeKill = fake.attempts.length;
    await fake.setMode("ok");
    const answered = await Promise.all(inFlight);

    const second = await deployment.start();
    const log = await waitFor(
      async () => {
        const current = await readResetLog(databaseUrl);
        const done = new Set(current.outcomes.map((o) => o.requestId));
        return current.requested.length > 0 && current.requested.every((r) => done.has(r.requestId))
          ? current
          : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 100, what: "an outcome for every PasswordResetRequested" },
    );
    await allAttemptsSettled(fake);

    // The scenario happened as intended: sends were in flight at the kill.
    expect(attemptsBeforeKill).toBeGreaterThanOrEqual(1);
    expect(log.requested.length).toBeGreaterThanOrEqual(1);

    // Exactly one outcome per request, and none without a request.
    const outcomesByRequest = groupBy(log.outcomes, (o) => o.requestId);
    const requestIds = log.requested.map((r) => r.requestId);
    expect(new Set(requestIds).size).toBe(requestIds.length);
    expect(
      requestIds.map((id) => ({ id, outcomes: outcomesByRequest.get(id)?.length ?? 0 })),
    ).toEqual(requestIds.map((id) => ({ id, outcomes: 1 })));
    expect([...outcomesByRequest.keys()].sort()).toEqual([...requestIds].sort());

    // One trigger per user, so one request per address.
    const requestOf = new Map<string, RequestedRow>();
    for (const row of log.requested) {
      const email = emailOfUser.get(row.userId);
      expect(email).toBeDefined();
      expect(requestOf.has(email as string)).toBe(false);
      requestOf.set(email as string, row);
    }

    // Every accepted message belongs to a request, went out by its deadline, and went out once:
    // what the killed process was sending was marked, so the new one did not send it again.
    const perAddress = groupBy(fake.messages, (m) => recipientOf(m.fields));
    for (const [address, sent] of perAddress) {
      const request = requestOf.get(address);
      expect({ address, hasRequest: request !== undefined }).toEqual({ address, hasRequest: true });
      const deadline = Date.parse(request?.dispatchDeadline ?? "");
      const late = sent.filter((m: FakeMessage) => m.receivedAt > deadline);
      expect({ address, late: late.length }).toEqual({ address, late: 0 });
      expect({ address, emails: sent.length }).toEqual({ address, emails: 1 });
    }

    // Every email the provider accepted is logged as sent or as unknown, never as not sent.
    const outcomeOf = new Map(log.outcomes.map((o) => [o.requestId, o]));
    const untruthful = [...perAddress.keys()].filter((address) => {
      const outcome = outcomeOf.get(requestOf.get(address)?.requestId ?? "");
      return !(outcome?.type === "PasswordResetEmailSent" || outcome?.reason === "unknown");
    });
    expect(untruthful).toEqual([]);

    // A recorded send was really accepted; so was every 200 the killed process managed to give.
    for (const outcome of log.outcomes.filter((o) => o.type === "PasswordResetEmailSent")) {
      const address = [...requestOf].find(([, r]) => r.requestId === outcome.requestId)?.[0];
      expect(messagesTo(fake, address ?? "").length).toBeGreaterThanOrEqual(1);
    }
    for (const { email, res } of answered) {
      if (res?.status === 200) {
        expectAnswer(res, 200, SENT_BODY);
        expect(messagesTo(fake, email).length).toBeGreaterThanOrEqual(1);
      }
    }

    const codes = deployment.emailedCodes();
    expectNoCodesIn(first.output(), codes);
    expectNoCodesIn(second.output(), codes);
  });
});
