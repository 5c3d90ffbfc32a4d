/**
 * GET /v1/audit/stats (README: Auditing): counts by type per UTC hour or day, for all accounts or one.
 * Events are placed at chosen instants (inserted with their recorded_at, as an old log holds
 * them) so that bucket edges can be checked to the millisecond.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { sql } from "kysely";
import { rollUp } from "../../src/audit/stats";
import { resetStreamOf } from "../../src/password-reset/streams";
import { onPostgres } from "../support/database";
import { appClient, type HttpAnswer, type Send } from "../support/http";
import { useRuntime } from "../support/runtime";
import { waitFor } from "../support/wait";

const TOKEN = `audit-${randomBytes(16).toString("hex")}`;
const ALICE = "stats.alice@example.com";
const BOB = "stats.bob@example.com";
/** A UTC midnight long before this test runs: nothing else is recorded near it. */
const H = Date.parse("2025-03-10T00:00:00.000Z");
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

const t = useRuntime({ AUDIT_TOKEN: TOKEN });
let send: Send;
const users: Record<string, string> = {};
let version = 1000;

async function place(email: string, type: string, at: number, data: Record<string, unknown> = {}) {
  const stream = await resetStreamOf(t.runtime, email);
  version += 1;
  await sql`
    insert into events (event_id, stream_id, stream_version, type, data, recorded_at)
    values (${randomUUID()}::uuid, ${stream}, ${version}, ${type},
            ${JSON.stringify({ requestId: randomUUID(), userId: users[email], ...data })}::jsonb,
            ${new Date(at)})`.execute(t.runtime.db);
}

/** `token` null sends no authorization header. */
const stats = (query: string, token: string | null = TOKEN): Promise<HttpAnswer> =>
  send(
    "GET",
    `/v1/audit/stats?${query}`,
    undefined,
    token === null ? {} : { authorization: `Bearer ${token}` },
  );

interface StatsBody {
  bucket: string;
  from: string;
  to: string;
  buckets: { start: string; counts: Record<string, number> }[];
}

async function ok(query: string): Promise<StatsBody> {
  const res = await stats(query);
  expect({ query, status: res.status }).toEqual({ query, status: 200 });
  expect(res.headers.get("cache-control")).toBe("no-store");
  return res.json as StatsBody;
}

beforeAll(async () => {
  send = appClient(t.app);
  for (const email of [ALICE, BOB]) {
    const res = await send("POST", "/v1/auth/register", { email, password: "Stats-Passw0rd!" });
    users[email] = (res.json as { user: { id: string } }).user.id;
  }
  await place(ALICE, "PasswordResetRequested", H); // a bucket's first instant
  await place(BOB, "PasswordResetRequested", H + HOUR / 2);
  // Five refused requests: the first logged, the next four in one tally.
  await place(ALICE, "PasswordResetRejected", H + HOUR - 2, { reason: "email_hourly" });
  await place(ALICE, "PasswordResetRefusalsCounted", H + HOUR - 1, {
    limit: "email_hourly",
    refused: 4,
    firstAt: iso(H + HOUR - 2),
    lastAt: iso(H + HOUR - 1),
  });
  await place(ALICE, "PasswordResetCodeRejected", H + HOUR); // the next bucket's first instant
  await place(ALICE, "PasswordResetCompleted", H + 25 * HOUR);
});

describe("GET /v1/audit/stats: buckets", () => {
  test("hour buckets: an event at a bucket's first instant counts there, one a millisecond before counts in the bucket before", async () => {
    const body = await ok(`from=${iso(H)}&to=${iso(H + 2 * HOUR)}&bucket=hour`);
    expect(body).toEqual({
      bucket: "hour",
      from: iso(H),
      to: iso(H + 2 * HOUR),
      buckets: [
        {
          start: iso(H),
          counts: { PasswordResetRequested: 2, PasswordResetRejected: 5 },
        },
        { start: iso(H + HOUR), counts: { PasswordResetCodeRejected: 1 } },
      ],
    });
  });

  test("`to` is exclusive; unaligned from/to widen to whole buckets", async () => {
    const exact = await ok(`from=${iso(H)}&to=${iso(H + HOUR)}`);
    expect(exact.buckets).toEqual([
      { start: iso(H), counts: { PasswordResetRequested: 2, PasswordResetRejected: 5 } },
    ]);
    const widened = await ok(`from=${iso(H + 30 * 60_000)}&to=${iso(H + HOUR + 1)}`);
    expect(widened.from).toBe(iso(H));
    expect(widened.to).toBe(iso(H + 2 * HOUR));
    expect(widened.buckets.map((b) => b.start)).toEqual([iso(H), iso(H + HOUR)]);
  });

  test("day buckets are UTC days, empty ones listed", async () => {
    const body = await ok(`from=${iso(H)}&to=${iso(H + 72 * HOUR)}&bucket=day`);
    expect(body.buckets).toEqual([
      {
        start: iso(H),
        counts: {
          PasswordResetRequested: 2,
          PasswordResetRejected: 5,
          PasswordResetCodeRejected: 1,
        },
      },
      { start: iso(H + 24 * HOUR), counts: { PasswordResetCompleted: 1 } },
      { start: iso(H + 48 * HOUR), counts: {} },
    ]);
  });

  test("one account, by email or by user id", async () => {
    const range = `from=${iso(H)}&to=${iso(H + 48 * HOUR)}&bucket=day`;
    const alice = await ok(`${range}&email=${encodeURIComponent(ALICE.toUpperCase())}`);
    expect(alice.buckets.map((b) => b.counts)).toEqual([
      { PasswordResetRequested: 1, PasswordResetRejected: 5, PasswordResetCodeRejected: 1 },
      { PasswordResetCompleted: 1 },
    ]);
    const bob = await ok(`${range}&user_id=${users[BOB]}`);
    expect(bob.buckets.map((b) => b.counts)).toEqual([{ PasswordResetRequested: 1 }, {}]);
    const nobody = await ok(`${range}&email=nobody%40example.com`);
    expect(nobody.buckets.map((b) => b.counts)).toEqual([{}, {}]);
  });

  test("events recorded after a roll-up are counted once, on every later read", async () => {
    const range = `from=${iso(H)}&to=${iso(H + HOUR)}`;
    const before = (await ok(range)).buckets[0]?.counts.PasswordResetRequested;
    await place(BOB, "PasswordResetRequested", H + 10 * 60_000);
    const expected = (before ?? 0) + 1;
    expect((await ok(range)).buckets[0]?.counts.PasswordResetRequested).toBe(expected);
    // Rolled up into an hour that already had counts: merged, and read once.
    await waitFor(async () => {
      await rollUp(t.runtime);
      const { rows } = await sql<{ n: string }>`
        select counts->>'PasswordResetRequested' as n from audit_stats_hourly
        where hour = ${new Date(H)}`.execute(t.runtime.db);
      return Number(rows[0]?.n) === expected;
    });
    for (let read = 0; read < 3; read++) {
      expect((await ok(range)).buckets[0]?.counts.PasswordResetRequested).toBe(expected);
    }
    expect((await ok(range)).buckets[0]?.counts.PasswordResetRejected).toBe(5);
  });

  test("the default range is the last 24 hours, holding what was just recorded", async () => {
    const body = await ok("");
    expect(body.buckets).toHaveLength(24);
    const registered = body.buckets.reduce((n, b) => n + (b.counts.UserRegistered ?? 0), 0);
    expect(registered).toBe(2);
  });
});

describe("GET /v1/audit/stats: refusals", () => {
  test("bad parameters: 400 naming the parameter", async () => {
    const cases: [string, string][] = [
      ["bucket=week", "bucket"],
      ["bucket=hour&bucket=day", "bucket"],
      [`from=${iso(H + HOUR)}&to=${iso(H)}`, "to"],
      ["from=2025-02-30", "from"],
      [`from=2000-01-01&to=${iso(H)}`, "from"],
      ["email=not-an-email", "email"],
      ["user_id=42", "user_id"],
    ];
    for (const [query, name] of cases) {
      const res = await stats(query);
      expect({ query, status: res.status, body: res.json }).toEqual({
        query,
        status: 400,
        body: { error: `invalid query parameter: ${name}` },
      });
    }
  });

  test("no token or a wrong one: 401", async () => {
    for (const token of [null, "wrong-token-wrong-token"]) {
      const res = await stats(`from=${iso(H)}&to=${iso(H + HOUR)}`, token);
      expect({ status: res.status, body: res.json }).toEqual({
        status: 401,
        body: { error: "unauthorized" },
      });
    }
  });
});

describe("GET /v1/audit/events?format=", () => {
  const events = (query: string) =>
    send("GET", `/v1/audit/events?${query}`, undefined, { authorization: `Bearer ${TOKEN}` });

  test("ndjson and csv carry the same events as the JSON pages, every page of them", async () => {
    const query = `email=${encodeURIComponent(ALICE)}`;
    // The running mailer answers the placed request (it has no code key: a failure); once that
    // outcome shows, every commit of this history is past the audit's horizon.
    const json = await waitFor(async () => {
      const page = (await events(`${query}&limit=1000`)).json as {
        events: { type: string }[];
      };
      return page.events.some((e) => e.type === "PasswordResetEmailFailed") ? page : false;
    });
    expect(json.events).toHaveLength(7);

    const ndjson = await events(`${query}&format=ndjson&limit=2`);
    expect(ndjson.status).toBe(200);
    expect(ndjson.headers.get("content-type")).toStartWith("application/x-ndjson");
    const lines = ndjson.text.trimEnd().split("\n");
    expect(lines.map((line) => JSON.parse(line))).toEqual(json.events);

    const csv = await events(`${query}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toStartWith("text/csv");
    expect(csv.headers.get("content-disposition")).toContain("audit-events.csv");
    const rows = csv.text.trimEnd().split("\n");
    expect(rows[0]).toBe("position,recorded_at,stream,version,type,data,metadata");
    expect(rows).toHaveLength(json.events.length + 1);
  });

  test("an unknown format: 400", async () => {
    const res = await events("format=xml");
    expect({ status: res.status, body: res.json }).toEqual({
      status: 400,
      body: { error: "invalid query parameter: format" },
    });
  });
});

describe.skipIf(!onPostgres)(
  "bun run audit:stats (needs TEST_DATABASE_URL: a second process on the database)",
  () => {
    const root = join(import.meta.dir, "..", "..");
    const cli = (...args: string[]) =>
      Bun.spawnSync(["bun", "--no-env-file", "src/cli/audit-stats.ts", ...args], {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: t.testDb.url,
          SECRET_KEY: Buffer.from(t.runtime.config.secretKey?.[0] ?? []).toString("hex"),
        },
      });

    test("--json prints what the API answers; the table one line per bucket", async () => {
      const range = ["--from", iso(H), "--to", iso(H + 48 * HOUR), "--bucket", "day"];
      const json = cli(...range, "--json", "--email", ALICE);
      expect(json.exitCode).toBe(0);
      const api = await ok(
        `from=${iso(H)}&to=${iso(H + 48 * HOUR)}&bucket=day&email=${encodeURIComponent(ALICE)}`,
      );
      expect(JSON.parse(json.stdout.toString())).toEqual(api);

      const table = cli(...range);
      expect(table.exitCode).toBe(0);
      const lines = table.stdout.toString().trimEnd().split("\n");
      expect(lines).toHaveLength(3);
      expect(lines[0]).toContain("PasswordResetRequested");
      expect(lines[1]).toStartWith(iso(H));
    });

    test("a bad option: exit 2 and one line naming it", () => {
      const bad = cli("--bucket", "week");
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr.toString()).toBe("invalid option: bucket\n");
    });
  },
);
