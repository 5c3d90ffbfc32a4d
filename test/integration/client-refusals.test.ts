/**
 * A client's limits hold whatever it varies (README: Security): the emails it names add nothing
 * to the log once its own limit refuses it, and an IPv6 client is its /64 (an IPv4-mapped address
 * its IPv4 address) in every per-client limit and rule.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { formatResetCode } from "../../projections/emails/code-format";
import { startBackground } from "../../src/features";
import { generateResetCode } from "../../src/password-reset/code";
import { flushRefusals } from "../../src/password-reset/refusals";
import { attemptsStreamOf } from "../../src/password-reset/service";
import { limits } from "../../src/rate-limits/gcra";
import { freshIp, lastCodeTo, mapWithConcurrency, messagesTo, uniqueEmail } from "../support/e2e";
import { runtimeWithFakeMailgun } from "../support/runtime";
import { waitFor } from "../support/wait";

const AUDIT_TOKEN = "client-refusals-audit-token";
const password = "Cl1ent-Passw0rd!";

const fixture = runtimeWithFakeMailgun({ TRUST_PROXY: "1", AUDIT_TOKEN });

let netCounter = 0;
/** A /64 of its own: `host` picks an address in it. */
const freshNet = () => {
  const net = `2001:db8:${(++netCounter).toString(16)}:${randomBytes(2).toString("hex")}`;
  return (host: number) => `${net}::${host.toString(16)}`;
};
const from = (ip: string) => ({ "x-forwarded-for": ip });
const trigger = (email: string, ip: string) =>
  fixture.t.request("POST", "/v1/auth/password-reset/trigger", { email }, from(ip));
const reset = (body: Record<string, string>, ip: string) =>
  fixture.t.request("POST", "/v1/auth/password-reset/reset", body, from(ip));
const wrongCode = () => formatResetCode(generateResetCode());

const eventCount = async () =>
  (await sql<{ n: number }>`select count(*)::int as n from events`.execute(fixture.t.runtime.db))
    .rows[0]?.n ?? 0;

/** Spends a client's trigger budget, each on a new unknown email. */
async function spendTriggerBudget(ip: (i: number) => string) {
  for (let i = 0; i < limits.triggerPerIp.max; i++) {
    expect((await trigger(uniqueEmail("budget"), ip(i))).status).toBe(404);
  }
}

describe("refusals by a client's own limit are the client's, whatever emails it names", () => {
  test("3,000 refused triggers, each naming a new email, add at most 5 events; the audit shows them all", async () => {
    const attacker = freshIp();
    await spendTriggerBudget(() => attacker);
    const before = await eventCount();

    const statuses = await mapWithConcurrency(
      Array.from({ length: 3000 }),
      8,
      async () => (await trigger(uniqueEmail("flood"), attacker)).status,
    );
    expect(statuses.filter((s) => s === 429)).toHaveLength(3000);
    // What a shutdown or the periodic sweep does: the running tallies go into the log.
    await flushRefusals(fixture.t.runtime, 0);
    const added = (await eventCount()) - before;
    expect(added).toBeGreaterThanOrEqual(2);
    expect(added).toBeLessThanOrEqual(5);

    // All in the client's own stream: the first refusal logged, the others counted.
    const stream = await attemptsStreamOf(fixture.t.runtime, attacker);
    const audit = await waitFor(
      async () => {
        const res = await fixture.t.request(
          "GET",
          "/v1/audit/events?type=PasswordResetRejected&type=PasswordResetRefusalsCounted&limit=1000",
          undefined,
          { authorization: `Bearer ${AUDIT_TOKEN}` },
        );
        expect(res.status).toBe(200);
        const events = (
          res.json as { events: { stream: string; type: string; data: { refused?: number } }[] }
        ).events.filter((e) => e.stream === stream);
        return events.length >= 2 && events;
      },
      { what: "the client's refusals in the audit" },
    );
    expect(audit.map((e) => e.type)).toEqual([
      "PasswordResetRejected",
      "PasswordResetRefusalsCounted",
    ]);
    expect(audit.reduce((n, e) => n + (e.data.refused ?? 1), 0)).toBe(3000);

    // The statistics count every refused request, counted ones included.
    const stats = await waitFor(
      async () => {
        const res = await fixture.t.request("GET", "/v1/audit/stats?bucket=day", undefined, {
          authorization: `Bearer ${AUDIT_TOKEN}`,
        });
        expect(res.status).toBe(200);
        const { buckets } = res.json as { buckets: { counts: Record<string, number> }[] };
        const refused = buckets.reduce((n, b) => n + (b.counts.PasswordResetRejected ?? 0), 0);
        return refused >= 3000 && refused;
      },
      { what: "the statistics to count the refusals" },
    );
    expect(stats).toBeGreaterThanOrEqual(3000);
  }, 120_000);
});

describe("stopping the service", () => {
  test("its background work writes the running tallies into the log before it ends", async () => {
    const attacker = freshIp();
    await spendTriggerBudget(() => attacker);
    for (let i = 0; i < 3; i++) {
      expect((await trigger(uniqueEmail("stopping"), attacker)).status).toBe(429);
    }
    const stream = await attemptsStreamOf(fixture.t.runtime, attacker);
    const countedIn = async () =>
      (await fixture.t.runtime.store.readStream(stream)).filter(
        (e) => e.type === "PasswordResetRefusalsCounted",
      );
    expect(await countedIn()).toEqual([]);

    // What the runtime's stop does with every feature's background work.
    await startBackground(fixture.t.runtime).stop();
    expect((await countedIn()).map((e) => e.data.refused)).toEqual([2]);
  });
});

describe("a client's tally runs an hour", () => {
  /** Moves the client's tally back in time, as an hour passing would. */
  const age = (stream: string, minutes: number) =>
    sql`update refusal_tallies set first_at = now() - ${`${minutes} minutes`}::interval
        where stream_id = ${stream}`.execute(fixture.t.runtime.db);

  test("refusals add two events an hour at most: the first refusal, then the hour's count", async () => {
    const client = freshIp();
    await spendTriggerBudget(() => client);
    const stream = await attemptsStreamOf(fixture.t.runtime, client);
    const refuse = async (n: number) => {
      for (let i = 0; i < n; i++) {
        expect((await trigger(uniqueEmail("hour"), client)).status).toBe(429);
      }
    };
    const logged = async () =>
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from events where stream_id = ${stream}`.execute(
          fixture.t.runtime.db,
        )
      ).rows[0]?.n;
    await refuse(20);
    expect(await logged()).toBe(1);

    // Minutes later, neither the sweep nor further refusals log anything yet.
    await age(stream, 59);
    await flushRefusals(fixture.t.runtime);
    await refuse(20);
    expect(await logged()).toBe(1);

    // Once the hour is over, the count goes in with the next tally's first refusal.
    await age(stream, 61);
    await refuse(1);
    const { rows } = await sql<{ type: string; data: { refused?: number; limit?: string } }>`
      select type, data from events where stream_id = ${stream} order by stream_version`.execute(
      fixture.t.runtime.db,
    );
    expect(rows.map((r) => [r.type, r.data.limit, r.data.refused])).toEqual([
      ["PasswordResetRejected", "ip_hourly", undefined],
      ["PasswordResetRefusalsCounted", "ip_hourly", 39],
      ["PasswordResetRejected", "ip_hourly", undefined],
    ]);
  });
});

describe("an IPv6 client is its /64", () => {
  test("wrong codes from 2001:db8::1…40 reach the per-client 429 like one client", async () => {
    const host = freshNet();
    const { max } = limits.failedCodesPerIp;
    const statuses: number[] = [];
    for (let i = 1; i <= 40; i++) {
      statuses.push((await reset({ code: wrongCode(), new_password: password }, host(i))).status);
    }
    expect(statuses).toEqual([...Array(max).fill(400), ...Array(40 - max).fill(429)]);
  });

  test("triggers from many addresses of one /64 are limited as one client", async () => {
    const host = freshNet();
    await spendTriggerBudget((i) => host(1000 + i));
    const refused = await trigger(uniqueEmail("after"), host(0xffff));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(3600 - 120);
  });

  test("50 triggers for one person from 50 addresses of one /64 send that person the burst, not 50 emails", async () => {
    const email = uniqueEmail("victim");
    expect(
      (await fixture.t.request("POST", "/v1/auth/register", { email, password }, from(freshIp())))
        .status,
    ).toBe(201);
    const host = freshNet();
    const statuses: number[] = [];
    for (let i = 1; i <= 50; i++) statuses.push((await trigger(email, host(i))).status);
    const { burst } = limits.triggerPerEmail;
    expect(statuses.filter((s) => s === 200)).toHaveLength(burst);
    expect(messagesTo(fixture.fake, email)).toHaveLength(burst);
  });

  test("wrong codes from a /64 lock the code for the whole /64, not for the owner", async () => {
    const email = uniqueEmail("locked");
    const owner = freshIp();
    expect(
      (await fixture.t.request("POST", "/v1/auth/register", { email, password }, from(owner)))
        .status,
    ).toBe(201);
    expect((await trigger(email, owner)).status).toBe(200);
    const code = lastCodeTo(fixture.fake, email);
    const host = freshNet();
    for (let i = 1; i <= 5; i++) {
      expect(
        (await reset({ code: wrongCode(), new_password: password, email }, host(i))).status,
      ).toBe(400);
    }
    const newPassword = "N3w-Cl1ent-Passw0rd!";
    expect((await reset({ code, new_password: newPassword, email }, host(6))).status).toBe(400);
    expect((await reset({ code, new_password: newPassword, email }, owner)).status).toBe(200);
  });

  test("an IPv4-mapped address is its IPv4 client", async () => {
    const ip = freshIp();
    await spendTriggerBudget((i) => (i % 2 === 0 ? ip : `::ffff:${ip}`));
    expect((await trigger(uniqueEmail("mapped"), ip)).status).toBe(429);
    expect((await trigger(uniqueEmail("mapped"), `::ffff:${ip}`)).status).toBe(429);
  });
});
