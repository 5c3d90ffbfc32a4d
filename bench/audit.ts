/**
 * The audit API on a realistic log (`npm run bench:audit`): a fresh database seeded with
 * bench/seed-audit.ts (1,000,000 events of 10,000 users over six months), VACUUM ANALYZE (the
 * state autovacuum keeps a live table in), the server as a child process, then one client asking
 * sequentially, after a warm-up, for random users' histories by user id and by email, plus
 * filtered queries for context. Every request is about a user no earlier request touched (cold
 * data key, no page cached on its behalf), and every history answer is checked against the seed.
 * Target: one user's or one email's history ≤ 10 ms at p95. Results go to BENCHMARKS.md.
 *
 * Environment:
 * - BENCH_AUDIT_SAMPLES (400): users per query kind.
 * - BENCH_AUDIT_KEEP=1: keep the database and print the two variables below to reuse it.
 * - BENCH_AUDIT_DATABASE_URL + BENCH_AUDIT_SECRET_KEY: skip seeding and use a database seeded
 *   earlier with that key (not dropped at the end).
 * - BENCH_AUDIT_DIAGNOSE=1: the main statement src/audit/service.ts sends (captured from Kysely)
 *   next to the proposed rewrite (`proposedQuery` below), both run through src/db as the server
 *   runs them, per user and with the same answers checked; EXPLAIN (ANALYZE, BUFFERS) of both
 *   under a custom and a generic plan on stderr; the comparison table goes to BENCHMARKS.md too.
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { CompiledQuery, Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { userStreamId } from "../events/user";
import { emailLookup } from "../projections/users";
import { type AuditFilters, parseAuditQuery, queryParams } from "../src/audit/model";
import { type AuditContext, queryAuditEvents } from "../src/audit/service";
import { parseSecretKey } from "../src/config";
import { openDatabase, type Schema } from "../src/db";
import { EventBus, EventStore } from "../src/event-store";
import { resetStreamId } from "../src/password-reset/streams";
import { DataKeys, deriveKeyring, type Keyring } from "../src/privacy";
import { startServer } from "../test/support/server";
import { table, writeSection } from "./report";
import { loadSeededUsers, SEED_DEFAULTS, type SeededUser, seedAuditDatabase } from "./seed-audit";
import { createBenchDatabase, machineDescription, percentile } from "./support";

const SAMPLES = Number(process.env.BENCH_AUDIT_SAMPLES ?? 400);
const WARMUP = 50;
const DIAGNOSE_SAMPLES = 50;
const TARGET_P95_MS = 10;
/** A query kind that is far too slow stops after this long (with at least 30 samples). */
const KIND_BUDGET_MS = 120_000;
const AUDIT_TOKEN = randomBytes(24).toString("hex");
const DIAGNOSE = process.env.BENCH_AUDIT_DIAGNOSE === "1";
const DAY = 24 * 60 * 60 * 1000;

interface Kind {
  name: string;
  /** Part of the target (one user's / one email's history). */
  target: boolean;
  /** Scoped to one user or email: diagnosed against the proposed rewrite. */
  scoped: boolean;
  url(user: SeededUser): string;
  /** How many events the answer must hold (user + reset stream, first page). */
  expect?(user: SeededUser): number;
  /** The user's UserRegistered comes first, with the email unsealed. */
  checkFirst?: boolean;
}

interface Result {
  kind: Kind;
  times: number[];
  returned: number[];
  wrong: number;
}

type AuditPageBody = { events: { type: string; data: Record<string, unknown> }[] };

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

function queryKinds(span: { from: number; to: number }): Kind[] {
  const randomInstant = (window: number) =>
    span.from + Math.random() * (span.to - span.from - window);
  return [
    {
      name: "user_id=<id>",
      target: true,
      scoped: true,
      url: (u) => `/v1/audit/events?user_id=${u.id}`,
      expect: (u) => Math.min(100, u.events),
      checkFirst: true,
    },
    {
      name: "email=<email>",
      target: true,
      scoped: true,
      url: (u) => `/v1/audit/events?email=${encodeURIComponent(u.email)}`,
      expect: (u) => Math.min(100, u.events),
      checkFirst: true,
    },
    {
      name: "user_id + type=Requested,Completed,PasswordChanged",
      target: false,
      scoped: true,
      url: (u) =>
        `/v1/audit/events?user_id=${u.id}&type=PasswordResetRequested&type=PasswordResetCompleted&type=PasswordChanged`,
    },
    {
      name: "email + from/to (30 days)",
      target: false,
      scoped: true,
      url: (u) => {
        const from = randomInstant(30 * DAY);
        return `/v1/audit/events?email=${encodeURIComponent(u.email)}&from=${iso(from)}&to=${iso(from + 30 * DAY)}`;
      },
    },
    {
      name: "email + from/to (whole period)",
      target: false,
      scoped: true,
      url: (u) =>
        `/v1/audit/events?email=${encodeURIComponent(u.email)}&from=${iso(span.from)}&to=${iso(span.to)}`,
    },
    {
      name: "type=PasswordResetCompleted (all users, first page)",
      target: false,
      scoped: false,
      url: () => "/v1/audit/events?type=PasswordResetCompleted",
    },
    {
      name: "from/to 1 hour (all users)",
      target: false,
      scoped: false,
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
    const kinds = queryKinds(span);

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
    process.stderr.write(`warming up (${WARMUP} requests per query kind)...\n`);
    for (const kind of kinds) for (const u of take(WARMUP)) await ask(kind.url(u));

    const results: Result[] = [];
    for (const kind of kinds) {
      const result: Result = { kind, times: [], returned: [], wrong: 0 };
      const started = performance.now();
      for (const u of take(SAMPLES)) {
        const { ms: elapsed, body } = await ask(kind.url(u));
        result.times.push(elapsed);
        result.returned.push(body.events.length);
        const first = body.events[0];
        const expected = kind.expect?.(u);
        const countWrong = expected !== undefined && body.events.length !== expected;
        const firstWrong =
          kind.checkFirst && (first?.type !== "UserRegistered" || first.data.email !== u.email);
        if (countWrong || firstWrong) result.wrong++;
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

    const header = ["query", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "avg events", "target"];
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
        r.kind.target ? (p95 <= TARGET_P95_MS ? "met" : "**missed**") : "context",
      ];
    });
    const wrong = results.reduce((n, r) => n + r.wrong, 0);
    const result = table(header, rows);
    console.log(result);
    if (wrong > 0) console.log(`${wrong} history answers did not match the seed`);

    let diagnosis = "";
    if (DIAGNOSE) {
      const scoped = kinds.filter((k) => k.scoped);
      diagnosis = await diagnose(databaseUrl, keyring, base, scoped, take(DIAGNOSE_SAMPLES));
      console.log(diagnosis);
    }

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
          ? "Every history answer matched the seed (event count, UserRegistered first with its email unsealed)."
          : `**${wrong} history answers did not match the seed.**`
      }

${result}

Load average before measuring: ${load}. Server peak RSS: ${rss} MB. Target: one user's history and one email's history each ≤ ${TARGET_P95_MS} ms at p95.${diagnosis ? `\n\n${diagnosis}` : ""}`,
    );
  } finally {
    await server?.stop().catch(() => {});
    await admin.end().catch(() => {});
    if (database && !keep) await database.drop();
  }
}

// --- diagnosis: the service's own SQL, explained and timed, next to the proposed rewrite -------

type Statement = { sql: string; parameters: readonly unknown[] };

/**
 * The proposed main statement for src/audit/service.ts. The streams are found first, as the
 * service does; then the history is read by stream id in a subquery that `offset 0` fences off,
 * so the type and time filters apply to that history's rows only. Without the fence, a generic
 * plan (src/db prepares every statement, and PostgreSQL switches to a generic plan after five
 * executions when it looks cheaper) ANDs the stream index with events_by_recorded_at or
 * events_by_type, and reads every entry of the window or type in the whole log.
 */
async function proposedQuery(
  ctx: Pick<AuditContext, "db" | "keyring">,
  filters: AuditFilters,
): Promise<Statement> {
  const { db, keyring } = ctx;
  const conditions = [sql`e.transaction_id < s.horizon`];
  let byEmail: string[] | undefined;
  if (filters.email !== undefined) {
    const resetStream = resetStreamId(keyring, filters.email);
    const current = await db
      .selectFrom("users")
      .select("id")
      .where("email_lookup", "=", emailLookup(keyring, filters.email))
      .executeTakeFirst();
    const named = await sql<{ user_id: string }>`
      select distinct data->>'userId' as user_id from events
      where stream_id = ${resetStream} and type = 'PasswordResetRequested'`.execute(db);
    const users = new Set(named.rows.map((r) => r.user_id));
    if (current) users.add(current.id);
    byEmail = [resetStream, ...[...users].map(userStreamId)];
  }
  let byUser: string[] | undefined;
  if (filters.userId !== undefined) {
    const { rows } = await sql<{ stream_id: string }>`
      select distinct stream_id from events
      where type = 'PasswordResetRequested' and data->>'userId' = ${filters.userId}`.execute(db);
    byUser = [userStreamId(filters.userId), ...rows.map((r) => r.stream_id)];
  }
  const streams =
    byEmail && byUser ? byEmail.filter((id) => byUser.includes(id)) : (byEmail ?? byUser);
  if (filters.types !== undefined) conditions.push(sql`e.type = any(${filters.types}::text[])`);
  if (filters.from !== undefined) conditions.push(sql`e.recorded_at >= ${filters.from}`);
  if (filters.to !== undefined) conditions.push(sql`e.recorded_at <= ${filters.to}`);
  if (filters.after !== undefined && filters.after > 0) {
    const start = await db
      .selectFrom("events")
      .select(sql<string>`transaction_id::text`.as("tx"))
      .where("global_position", "=", filters.after)
      .executeTakeFirstOrThrow();
    conditions.push(
      sql`(e.transaction_id, e.global_position) > (${start.tx}::xid8, ${filters.after}::bigint)`,
    );
  }
  const source =
    streams === undefined
      ? sql`events`
      : sql`(select * from events where stream_id = any(${streams}::text[]) offset 0)`;
  return sql`
    with s as (select pg_snapshot_xmin(pg_current_snapshot()) as horizon)
    select e.global_position, e.transaction_id::text as transaction_id, e.event_id::text as event_id,
           e.stream_id, e.stream_version, e.type, e.data, e.metadata, e.recorded_at
    from ${source} e, s
    where ${sql.join(conditions, sql` and `)}
    order by e.transaction_id, e.global_position
    limit ${filters.limit + 1}`.compile(db);
}

/** Runs queryAuditEvents as the server does and keeps the main statement it sent. */
function capturingContext(databaseUrl: string, keyring: Keyring) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  let main: Statement | undefined;
  const db = new Kysely<Schema>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === "query" && /as horizon\)/.test(event.query.sql)) {
        main = event.query;
      }
    },
  });
  const ctx: AuditContext = {
    db,
    keyring,
    dataKeys: new DataKeys(db, keyring),
    store: new EventStore(db, new EventBus()),
  };
  return {
    ctx,
    async serviceQuery(filters: AuditFilters): Promise<Statement> {
      main = undefined;
      await queryAuditEvents(ctx, filters);
      if (!main) throw new Error("the service's main statement was not captured");
      return main;
    },
    close: () => db.destroy(),
  };
}

/** A parameter as an SQL literal, for EXECUTE of a PREPAREd statement. */
function literal(value: unknown): string {
  if (value instanceof Date) return pg.escapeLiteral(value.toISOString());
  if (Array.isArray(value)) return pg.escapeLiteral(`{${value.map((v) => `"${v}"`).join(",")}}`);
  if (typeof value === "number") return String(value);
  return pg.escapeLiteral(String(value));
}

/** EXPLAIN ANALYZE of a statement as a prepared statement, under a custom or a generic plan. */
async function explainPrepared(client: pg.Client, statement: Statement, mode: string) {
  await client.query(`set plan_cache_mode = ${mode}`);
  await client.query(`prepare diagnosed as ${statement.sql}`);
  try {
    const { rows } = await client.query<{ "QUERY PLAN": string }>(
      `explain (analyze, buffers) execute diagnosed(${statement.parameters.map(literal).join(", ")})`,
    );
    return rows.map((r) => r["QUERY PLAN"]).join("\n");
  } finally {
    await client.query("deallocate diagnosed");
    await client.query("reset plan_cache_mode");
  }
}

async function diagnose(
  databaseUrl: string,
  keyring: Keyring,
  base: string,
  kinds: Kind[],
  sample: SeededUser[],
): Promise<string> {
  const capture = capturingContext(databaseUrl, keyring);
  // The server's own database module: statements run as it runs them (prepared, plan cache).
  const server = await openDatabase({ databaseUrl });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const run = async (statement: Statement) => {
    const started = performance.now();
    const { rows } = await server.db.executeQuery<{ global_position: number }>(
      CompiledQuery.raw(statement.sql, [...statement.parameters]),
    );
    return { ms: performance.now() - started, positions: rows.map((r) => r.global_position) };
  };
  try {
    const filtersOf = (kind: Kind, user: SeededUser) =>
      parseAuditQuery(queryParams(new URL(base + kind.url(user))));
    const warmup = sample.slice(0, 10);
    const measured = sample.slice(10);
    const typical = [...measured].sort((a, b) => a.events - b.events)[
      Math.floor(measured.length / 2)
    ] as SeededUser;

    const rows: (string | number)[][] = [];
    let differ = 0;
    for (const kind of kinds) {
      const current: number[] = [];
      const proposed: number[] = [];
      // Past PostgreSQL's five custom plans per prepared statement, as in a server running a while.
      for (const user of warmup) {
        const filters = filtersOf(kind, user);
        await run(await capture.serviceQuery(filters));
        await run(await proposedQuery(capture.ctx, filters));
      }
      for (const user of measured) {
        const filters = filtersOf(kind, user);
        const service = await capture.serviceQuery(filters);
        const rewrite = await proposedQuery(capture.ctx, filters);
        const a = await run(service);
        const b = await run(rewrite);
        current.push(a.ms);
        proposed.push(b.ms);
        if (a.positions.join() !== b.positions.join()) differ++;
      }
      current.sort((x, y) => x - y);
      proposed.sort((x, y) => x - y);
      rows.push([
        `\`${kind.name}\``,
        measured.length,
        ms(percentile(current, 50)),
        ms(percentile(current, 95)),
        ms(percentile(proposed, 50)),
        ms(percentile(proposed, 95)),
      ]);

      const filters = filtersOf(kind, typical);
      const service = await capture.serviceQuery(filters);
      const rewrite = await proposedQuery(capture.ctx, filters);
      for (const [label, statement] of [
        ["current", service],
        ["proposed", rewrite],
      ] as const) {
        for (const mode of ["force_custom_plan", "force_generic_plan"]) {
          const plan = await explainPrepared(client, statement, mode);
          process.stderr.write(
            `\n--- ${kind.name}, ${label}, ${mode} (${typical.events} events)\n${statement.sql.trim()}\n${plan}\n`,
          );
        }
      }
    }
    const header = [
      "main statement only",
      "n",
      "current p50 ms",
      "current p95 ms",
      "proposed p50 ms",
      "proposed p95 ms",
    ];
    return `### Diagnosis (\`BENCH_AUDIT_DIAGNOSE=1\`)

The main statement of src/audit/service.ts (captured from Kysely) and the proposed rewrite
(\`proposedQuery\` in bench/audit.ts: the same streams, read in an \`offset 0\` subquery), each run
through src/db as the server runs it (prepared per connection, so PostgreSQL may switch to a
generic plan after five executions), on the same ${sample.length - 10} users after 10 warm-up users.
${differ === 0 ? "Both returned the same events every time." : `**${differ} answers differed.**`}

${table(header, rows)}`;
  } finally {
    await client.end();
    await server.close();
    await capture.close();
  }
}

await main();
