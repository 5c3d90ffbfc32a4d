/**
 * The audit API on a realistic log (`npm run bench:audit`): a fresh database seeded with
 * bench/seed-audit.ts (1,000,000 events of 10,000 users over six months), VACUUM ANALYZE (the
 * state autovacuum keeps a live table in), the server as a child process, then one client asking
 * sequentially, after a warm-up, for random users' histories by user id and by email, plus
 * filtered queries for context. Every request is about a user no earlier request touched (cold
 * data key, no page cached on its behalf), and every history answer is checked against the seed.
 * Target: one user's or one email's history ≤ 10 ms at p95; GET /v1/audit/stats over 30 days for
 * all accounts ≤ 50 ms at p95 (after the one-time roll-up of the seeded log, timed on its own).
 * Results go to BENCHMARKS.md.
 *
 * Environment:
 * - BENCH_AUDIT_SAMPLES (400): users per query kind.
 * - BENCH_AUDIT_KEEP=1: keep the database and print the two variables below to reuse it.
 * - BENCH_AUDIT_DATABASE_URL + BENCH_AUDIT_SECRET_KEY: skip seeding and use a database seeded
 *   earlier with that key (not dropped at the end).
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import pg from "pg";
import { parseSecretKey } from "../src/config";
import { deriveKeyring } from "../src/privacy";
import { startServer } from "../test/support/server";
import { table, writeSection } from "./report";
import { loadSeededUsers, SEED_DEFAULTS, type SeededUser, seedAuditDatabase } from "./seed-audit";
import { createBenchDatabase, machineDescription, percentile } from "./support";

const SAMPLES = Number(process.env.BENCH_AUDIT_SAMPLES ?? 400);
const WARMUP = 50;
const TARGET_P95_MS = 10;
const STATS_TARGET_P95_MS = 50;
/** A query kind that is far too slow stops after this long (with at least 30 samples). */
const KIND_BUDGET_MS = 120_000;
const AUDIT_TOKEN = randomBytes(24).toString("hex");
const DAY = 24 * 60 * 60 * 1000;

interface Kind {
  name: string;
  /** Part of the target (one user's / one email's history, 30 days of stats). */
  target: boolean;
  /** The target's p95 when it is not TARGET_P95_MS. */
  targetMs?: number;
  url(user: SeededUser): string;
  /** How many events the answer must hold (user + reset stream, first page). */
  expect?(user: SeededUser): number;
  /** The user's UserRegistered comes first, with the email unsealed. */
  checkFirst?: boolean;
  /** Whether a stats answer is right. */
  checkStats?(body: StatsBody): boolean;
}

type StatsBody = { buckets: { start: string; counts: Record<string, number> }[] };

interface Result {
  kind: Kind;
  times: number[];
  returned: number[];
  wrong: number;
}

type AuditPageBody = {
  events?: { type: string; data: Record<string, unknown> }[];
  buckets?: StatsBody["buckets"];
};

const iso = (t: number) => new Date(t).toISOString();
const ms = (n: number) => n.toFixed(1);

function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function queryKinds(span: { from: number; to: number }, totalEvents: number): Kind[] {
  const randomInstant = (window: number) =>
    span.from + Math.random() * (span.to - span.from - window);
  return [
    {
      name: "user_id=<id>",
      target: true,
      url: (u) => `/v1/audit/events?user_id=${u.id}`,
      expect: (u) => Math.min(100, u.events),
      checkFirst: true,
    },
    {
      name: "email=<email>",
      target: true,
      url: (u) => `/v1/audit/events?email=${encodeURIComponent(u.email)}`,
      expect: (u) => Math.min(100, u.events),
      checkFirst: true,
    },
    {
      name: "user_id + type=Requested,Completed,PasswordChanged",
      target: false,
      url: (u) =>
        `/v1/audit/events?user_id=${u.id}&type=PasswordResetRequested&type=PasswordResetCompleted&type=PasswordChanged`,
    },
    {
      name: "email + from/to (30 days)",
      target: false,
      url: (u) => {
        const from = randomInstant(30 * DAY);
        return `/v1/audit/events?email=${encodeURIComponent(u.email)}&from=${iso(from)}&to=${iso(from + 30 * DAY)}`;
      },
    },
    {
      name: "email + from/to (whole period)",
      target: false,
      url: (u) =>
        `/v1/audit/events?email=${encodeURIComponent(u.email)}&from=${iso(span.from)}&to=${iso(span.to)}`,
    },
    {
      name: "type=PasswordResetCompleted (all users, first page)",
      target: false,
      url: () => "/v1/audit/events?type=PasswordResetCompleted",
    },
    {
      name: "stats: 30 days, hour buckets (all users)",
      target: true,
      targetMs: STATS_TARGET_P95_MS,
      url: () => {
        const from = randomInstant(30 * DAY);
        return `/v1/audit/stats?from=${iso(from)}&to=${iso(from + 30 * DAY)}&bucket=hour`;
      },
      checkStats: (body) => body.buckets.length === 30 * 24 || body.buckets.length === 30 * 24 + 1,
    },
    {
      name: "stats: whole period, day buckets (all users)",
      target: false,
      url: () => `/v1/audit/stats?from=${iso(span.from)}&to=${iso(span.to + 1)}&bucket=day`,
      // Every event of the log, counted once (refusals recorded counted would add their count).
      checkStats: (body) =>
        body.buckets.reduce((n, b) => n + Object.values(b.counts).reduce((m, c) => m + c, 0), 0) ===
        totalEvents,
    },
    {
      name: "stats: one email, 30 days, hour buckets",
      target: false,
      url: (u) => {
        const from = randomInstant(30 * DAY);
        return `/v1/audit/stats?email=${encodeURIComponent(u.email)}&from=${iso(from)}&to=${iso(from + 30 * DAY)}&bucket=hour`;
      },
    },
    {
      name: "from/to 1 hour (all users)",
      target: false,
      url: () => {
        const from = randomInstant(60 * 60 * 1000);
        return `/v1/audit/events?from=${iso(from)}&to=${iso(from + 60 * 60 * 1000)}`;
      },
    },
  ];
}

async function main() {
  const reuseUrl = process.env.BENCH_AUDIT_DATABASE_URL;
  const reuseKey = process.env.BENCH_AUDIT_SECRET_KEY;
  if (reuseUrl && !reuseKey) {
    throw new Error("BENCH_AUDIT_DATABASE_URL needs BENCH_AUDIT_SECRET_KEY (the seed's key)");
  }
  const keep = process.env.BENCH_AUDIT_KEEP === "1";
  const database = reuseUrl ? undefined : await createBenchDatabase();
  const databaseUrl = reuseUrl ?? database?.url ?? "";
  const secretKey = reuseKey ?? randomBytes(32).toString("hex");
  const keyring = deriveKeyring(parseSecretKey(secretKey));
  const admin = new pg.Client({ connectionString: databaseUrl });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;

  try {
    let users: SeededUser[];
    let seeding: string;
    if (reuseUrl) {
      process.stderr.write("reusing the seeded database at BENCH_AUDIT_DATABASE_URL\n");
      users = await loadSeededUsers(databaseUrl, keyring);
      seeding = "not timed in this run (a database seeded earlier was reused)";
    } else {
      process.stderr.write(
        `seeding ${SEED_DEFAULTS.events.toLocaleString("en")} events of ${SEED_DEFAULTS.users.toLocaleString("en")} users...\n`,
      );
      const seeded = await seedAuditDatabase({ databaseUrl, secretKey });
      users = seeded.users.filter((u) => !u.erased);
      seeding = `${seeded.seconds.toFixed(0)} s`;
      if (keep) {
        process.stderr.write(
          `kept: BENCH_AUDIT_DATABASE_URL=${databaseUrl} BENCH_AUDIT_SECRET_KEY=${secretKey}\n`,
        );
      }
    }
    await admin.connect();
    process.stderr.write("vacuum analyze...\n");
    await admin.query("vacuum analyze");
    const { rows: size } = await admin.query<{
      events: string;
      users: string;
      from: Date;
      to: Date;
      bytes: string;
    }>(`select count(*) as events, (select count(*) from users) as users,
               min(recorded_at) as from, max(recorded_at) as to,
               pg_total_relation_size('events') as bytes from events`);
    const stats = size[0];
    if (!stats) throw new Error("no events");
    const span = { from: stats.from.getTime(), to: stats.to.getTime() };

    server = await startServer({ DATABASE_URL: databaseUrl, SECRET_KEY: secretKey, AUDIT_TOKEN });
    const base = server.url;
    const headers = { authorization: `Bearer ${AUDIT_TOKEN}` };
    const kinds = queryKinds(span, Number(stats.events));

    // Every request below is about a user no earlier request touched.
    const pool = shuffle(users);
    const take = (n: number) => pool.splice(0, n);
    const ask = async (url: string) => {
      const started = performance.now();
      const response = await fetch(base + url, { headers });
      const text = await response.text();
      const elapsed = performance.now() - started;
      if (response.status !== 200) throw new Error(`${url}: ${response.status} ${text}`);
      return { ms: elapsed, body: JSON.parse(text) as AuditPageBody };
    };

    const load = loadavg()
      .map((n) => n.toFixed(2))
      .join(", ");
    // The first stats read rolls the whole seeded log up by hour, once; later reads add only
    // what was committed since.
    const rollUp = await ask(`/v1/audit/stats?from=${iso(span.from)}&to=${iso(span.to + 1)}`);
    process.stderr.write(`first stats read (roll-up of the seeded log): ${ms(rollUp.ms)} ms\n`);
    process.stderr.write(`warming up (${WARMUP} requests per query kind)...\n`);
    for (const kind of kinds) for (const u of take(WARMUP)) await ask(kind.url(u));

    const results: Result[] = [];
    for (const kind of kinds) {
      const result: Result = { kind, times: [], returned: [], wrong: 0 };
      const started = performance.now();
      for (const u of take(SAMPLES)) {
        const { ms: elapsed, body } = await ask(kind.url(u));
        result.times.push(elapsed);
        const events = body.events ?? [];
        result.returned.push(body.buckets?.length ?? events.length);
        const first = events[0];
        const expected = kind.expect?.(u);
        const countWrong = expected !== undefined && events.length !== expected;
        const firstWrong =
          kind.checkFirst && (first?.type !== "UserRegistered" || first.data.email !== u.email);
        const statsWrong = kind.checkStats !== undefined && !kind.checkStats(body as StatsBody);
        if (countWrong || firstWrong || statsWrong) result.wrong++;
        if (performance.now() - started > KIND_BUDGET_MS && result.times.length >= 30) break;
      }
      result.times.sort((a, b) => a - b);
      results.push(result);
      process.stderr.write(
        `${kind.name}: n=${result.times.length} p50=${ms(percentile(result.times, 50))} p95=${ms(percentile(result.times, 95))} ms\n`,
      );
    }
    const rss = Math.round(
      Number(
        (await Bun.file(`/proc/${server.process.pid}/status`).text()).match(
          /VmHWM:\s+(\d+) kB/,
        )?.[1] ?? 0,
      ) / 1024,
    );
    await server.stop();
    server = undefined;

    const header = [
      "query",
      "n",
      "p50 ms",
      "p95 ms",
      "p99 ms",
      "max ms",
      "avg events (stats: buckets)",
      "target",
    ];
    const rows = results.map((r) => {
      const p95 = percentile(r.times, 95);
      return [
        `\`${r.kind.name}\``,
        r.times.length,
        ms(percentile(r.times, 50)),
        ms(p95),
        ms(percentile(r.times, 99)),
        ms(r.times.at(-1) ?? Number.NaN),
        (r.returned.reduce((a, b) => a + b, 0) / r.returned.length).toFixed(1),
        r.kind.target
          ? p95 <= (r.kind.targetMs ?? TARGET_P95_MS)
            ? "met"
            : "**missed**"
          : "context",
      ];
    });
    const wrong = results.reduce((n, r) => n + r.wrong, 0);
    const result = table(header, rows);
    console.log(result);
    if (wrong > 0) console.log(`${wrong} answers did not match the seed`);

    const sizes = users.map((u) => u.events).sort((a, b) => a - b);
    const at = (p: number) => sizes[Math.min(sizes.length - 1, Math.floor(sizes.length * p))];
    writeSection(
      "bench:audit",
      `## Audit queries (\`npm run bench:audit\`)

Run ${new Date().toISOString().slice(0, 10)} on ${machineDescription()}, PostgreSQL on the same machine
(default settings, shared_buffers 128 MB).
Seed (bench/seed-audit.ts): ${Number(stats.events).toLocaleString("en")} events of ${SEED_DEFAULTS.users.toLocaleString("en")} users
(${Number(stats.users).toLocaleString("en")} live) over ${Math.round((span.to - span.from) / DAY)} days; \`events\` with its indexes ${(Number(stats.bytes) / 2 ** 20).toFixed(0)} MB.
One user's history (own stream + reset stream): ${at(0.5)} events at the median, ${at(0.95)} at p95, ${at(0.99)} at p99.
Seeding took ${seeding}; then VACUUM ANALYZE.

One client, sequential, over HTTP (keep-alive), after ${WARMUP} warm-up requests per kind; each
request asks about a different random user; default \`limit\` (100). ${
        wrong === 0
          ? "Every history answer matched the seed (event count, UserRegistered first with its email unsealed); every stats answer had its 720 or 721 hour buckets, and the whole period's counts summed to the log's event count."
          : `**${wrong} answers did not match the seed.**`
      }
Stats: ${
        reuseUrl
          ? `the first read took ${ms(rollUp.ms)} ms (unless the reused database was rolled up before)`
          : `the first read rolled the seeded log up by hour in ${ms(rollUp.ms)} ms`
      } (once; later reads add only the events committed since, and read the roll-up plus that tail).

${result}

Load average before measuring: ${load}. Server peak RSS: ${rss} MB. Targets: one user's history and one email's history each ≤ ${TARGET_P95_MS} ms at p95; stats over 30 days for all accounts ≤ ${STATS_TARGET_P95_MS} ms at p95.`,
    );
  } finally {
    await server?.stop().catch(() => {});
    await admin.end().catch(() => {});
    if (database && !keep) await database.drop();
  }
}

await main();
