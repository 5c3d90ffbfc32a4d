/**
 * The trigger endpoint under load, next to what PostgreSQL itself does on this machine:
 * wrk against the server (RATE_LIMITS=off, fake Mailgun on loopback) with the provider
 * answering at once and in 200 ms, and pgbench with a one-row INSERT (and the same INSERT
 * with a pg_notify in its transaction) at the same concurrencies. Per row it records the
 * server's and PostgreSQL's CPU per trigger from /proc counters (less sensitive to other load
 * on the machine than req/s), statements and commits per trigger (pg_stat_statements,
 * pg_stat_database), and the cross-process commit → outcome-waiter wake-up. Side by side, in
 * the same run: the CRUD peer (BENCH_PEER_DIR) and this service with WORKERS=2 under the same
 * loads, each with its CPU per trigger from /proc. Results go to BENCHMARKS.md.
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { parseSecretKey } from "../src/config";
import { deriveKeyring } from "../src/privacy";
import { type FakeMailgun, startFakeMailgun } from "../test/support/fake-mailgun";
import { descendants } from "../test/support/processes";
import { logLines, type ServerProcess, startServer } from "../test/support/server";
import { waitFor } from "../test/support/wait";
import { table, writeSection } from "./report";
import {
  ADMIN_URL,
  backendsCpu,
  benchEmail,
  benchServerEnv,
  cpuMs,
  createBenchDatabase,
  ensureTools,
  machineDescription,
  type PeerProcess,
  peakRssMb,
  peerDir,
  percentile,
  resetStreamIn,
  seedPeerUsers,
  seedUsers,
  sh,
  startPeer,
  type WrkResult,
  wrkTriggers,
} from "./support";

const USERS = 10_000;
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const WAKE_TRIGGERS = 400;

const wrk = (url: string, connections: number, seconds: number) =>
  wrkTriggers(url, { connections, seconds, users: USERS });

async function pgbench(
  url: string,
  script: string,
  connections: number,
  seconds: number,
): Promise<{ tps: number; latency: number }> {
  const out = await sh([
    "pgbench",
    "-n",
    `-c${connections}`,
    "-j2",
    `-T${seconds}`,
    "-f",
    join(import.meta.dir, script),
    url,
  ]);
  return {
    tps: Number(out.match(/tps = ([\d.]+) \(without initial connection time\)/)?.[1] ?? 0),
    latency: Number(out.match(/latency average = ([\d.]+) ms/)?.[1] ?? Number.NaN),
  };
}

/** Starts a new peak-RSS window for a process (writing 5 to clear_refs resets VmHWM). */
function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    // Not permitted here: the figure is then the process's lifetime peak.
  }
}

/** CPU of the server's processes and of the PostgreSQL backends serving its database, over a window. */
class CpuWindow {
  private serverStart = new Map<number, number>();
  private backendsStart = new Map<number, number>();

  constructor(
    private readonly admin: pg.Client,
    private readonly database: string,
    private readonly serverPids: number[],
  ) {}

  async start(): Promise<void> {
    this.serverStart = new Map(this.serverPids.map((pid) => [pid, cpuMs(pid)]));
    this.backendsStart = await backendsCpu(this.admin, this.database);
  }

  /** Milliseconds of CPU used since start(): the server's and PostgreSQL's. */
  async stop(): Promise<{ serverMs: number; postgresMs: number }> {
    let serverMs = 0;
    for (const [pid, start] of this.serverStart) serverMs += cpuMs(pid) - start;
    let postgresMs = 0;
    for (const [pid, now] of await backendsCpu(this.admin, this.database)) {
      postgresMs += now - (this.backendsStart.get(pid) ?? 0);
    }
    return { serverMs, postgresMs };
  }
}

interface StatementCount {
  calls: number;
  query: string;
}

/**
 * pg_stat_statements when PostgreSQL preloads it (shared_preload_libraries); undefined
 * otherwise, and the statement columns read n/a.
 */
async function statementCounter(client: pg.Client) {
  try {
    await client.query("create extension if not exists pg_stat_statements");
    await client.query("select count(*) from pg_stat_statements");
  } catch {
    return undefined;
  }
  const dbid = (
    await client.query<{ oid: number }>(
      "select oid from pg_database where datname = current_database()",
    )
  ).rows[0]?.oid;
  return {
    async reset() {
      await client.query("select pg_stat_statements_reset(0, $1::oid, 0)", [dbid]);
    },
    async read(): Promise<StatementCount[]> {
      const { rows } = await client.query<{ calls: string; query: string }>(
        `select calls::text, query from pg_stat_statements
         where dbid = $1 and query not like '%pg_stat_statements%'
         order by pg_stat_statements.calls desc`,
        [dbid],
      );
      return rows.map((r) => ({ calls: Number(r.calls), query: r.query }));
    },
  };
}

async function commitsOf(admin: pg.Client, database: string): Promise<number> {
  await admin.query("select pg_stat_clear_snapshot()");
  const { rows } = await admin.query<{ n: string }>(
    "select xact_commit::text as n from pg_stat_database where datname = $1",
    [database],
  );
  return Number(rows[0]?.n ?? 0);
}

/** The per-process statistics counters reach pg_stat_database within about a second of idling. */
async function settledCommits(admin: pg.Client, database: string): Promise<number> {
  let last = await commitsOf(admin, database);
  for (let i = 0; i < 30; i++) {
    await Bun.sleep(500);
    const now = await commitsOf(admin, database);
    if (now === last && i >= 2) return now;
    last = now;
  }
  return last;
}

/** What every row of the side-by-side table has, whichever service it measured. */
interface Measured {
  who: string;
  label: string;
  connections: number;
  load: WrkResult;
  triggers: number;
  /** Summed over the server's processes and its database's PostgreSQL backends. */
  cpu: { serverMs: number; postgresMs: number };
  /** The highest of its processes' peaks. */
  rssMb: number;
}

interface Row extends Measured {
  statements: number | undefined;
  commits: number;
  eventCommits: number;
  receipt: { p50: number; p99: number };
  unrecorded: { p50: number; p99: number };
  top: StatementCount[];
}

interface Load {
  label: string;
  connections: number;
  delayMs: number;
  /** Also measured on the peer and with WORKERS=2. */
  sideBySide: boolean;
}

const LOADS: Load[] = [
  { label: "(a) provider at once", connections: 16, delayMs: 0, sideBySide: true },
  { label: "(a) provider at once", connections: 64, delayMs: 0, sideBySide: false },
  { label: "(b) provider in 200 ms", connections: 256, delayMs: 200, sideBySide: true },
];

interface Bench {
  fake: FakeMailgun;
  /** On the service's bench database. */
  client: pg.Client;
  admin: pg.Client;
  dbName: string;
  statements: Awaited<ReturnType<typeof statementCounter>>;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

/**
 * One load against this service (one process or a WORKERS supervisor and its workers), the
 * CPU and statement windows closed once the last of its triggers has its outcome recorded.
 */
async function measureService(
  b: Bench,
  who: string,
  url: string,
  pids: number[],
  { label, connections, delayMs }: Load,
): Promise<Row> {
  const { fake, client, admin, dbName, statements } = b;
  await fake.setMode(delayMs > 0 ? { delayMs } : "ok");
  const { rows: mark } = await client.query<{ p: string }>(
    "select coalesce(max(global_position), 0)::text as p from events",
  );
  const from = Number(mark[0]?.p ?? 0);
  const commitsBefore = await settledCommits(admin, dbName);
  await statements?.reset();
  for (const pid of pids) resetPeakRss(pid);
  const cpu = new CpuWindow(admin, dbName, pids);
  await cpu.start();
  process.stderr.write(`${label}, ${who}: wrk -c${connections} for ${DURATION_S}s...\n`);
  const load = await wrk(url, connections, DURATION_S);
  // Let the last outcomes land, then close the CPU and statement windows.
  const { rows: counts } = await client.query<{ n: string }>(
    "select count(*)::text as n from events where global_position > $1 and type = 'PasswordResetRequested'",
    [from],
  );
  const requested = Number(counts[0]?.n ?? 0);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { rows: done } = await client.query<{ n: string }>(
      `select count(*)::text as n from events where global_position > $1
         and type in ('PasswordResetEmailSent', 'PasswordResetEmailFailed')`,
      [from],
    );
    if (Number(done[0]?.n ?? 0) >= requested || Date.now() > deadline) break;
    await Bun.sleep(50);
  }
  const used = await cpu.stop();
  const rssMb = peakRssMb(pids);
  const counted = await statements?.read();
  const commits = (await settledCommits(admin, dbName)) - commitsBefore;
  const { rows: txs } = await client.query<{ n: string }>(
    "select count(distinct transaction_id)::text as n from events where global_position > $1",
    [from],
  );
  const { rows: pairs } = await client.query<{
    committed: Date;
    recorded: Date;
    message_id: string;
  }>(
    `select r.recorded_at as committed, s.recorded_at as recorded,
            s.data->>'providerMessageId' as message_id
     from events r join events s on s.stream_id = r.stream_id
       and s.type = 'PasswordResetEmailSent' and s.data->>'requestId' = r.data->>'requestId'
     where r.type = 'PasswordResetRequested' and r.global_position > $1`,
    [from],
  );
  const receivedAt = new Map(fake.messages.map((m) => [m.id, m.receivedAt]));
  const delays = pairs
    .map((p) => (receivedAt.get(p.message_id) ?? Number.NaN) - p.committed.getTime())
    .filter((d) => Number.isFinite(d))
    .sort((a, b) => a - b);
  // How long an accepted email stays unrecorded: a crash in this window sends it again.
  const unrecorded = pairs
    .map((p) => p.recorded.getTime() - (receivedAt.get(p.message_id) ?? Number.NaN))
    .filter((d) => Number.isFinite(d))
    .sort((a, b) => a - b);
  return {
    who,
    label,
    connections,
    load,
    triggers: requested,
    cpu: used,
    rssMb,
    statements: counted?.reduce((n, s) => n + s.calls, 0),
    commits,
    eventCommits: Number(txs[0]?.n ?? 0),
    receipt: { p50: percentile(delays, 50), p99: percentile(delays, 99) },
    unrecorded: { p50: percentile(unrecorded, 50), p99: percentile(unrecorded, 99) },
    top: counted?.slice(0, 12) ?? [],
  };
}

interface RunningPeer {
  process: PeerProcess;
  dbName: string;
}

/** One load against the CRUD peer: it answers once its email is sent, so wrk's end is the row's. */
async function measurePeer(b: Bench, peer: RunningPeer, load: Load): Promise<Measured> {
  const { pid, url } = peer.process;
  await b.fake.setMode(load.delayMs > 0 ? { delayMs: load.delayMs } : "ok");
  resetPeakRss(pid);
  const cpu = new CpuWindow(b.admin, peer.dbName, [pid]);
  await cpu.start();
  process.stderr.write(
    `${load.label}, CRUD peer: wrk -c${load.connections} for ${DURATION_S}s...\n`,
  );
  const result = await wrk(url, load.connections, DURATION_S);
  return {
    who: "CRUD peer",
    label: load.label,
    connections: load.connections,
    load: result,
    triggers: result.requests - result.non2xx,
    cpu: await cpu.stop(),
    rssMb: peakRssMb([pid]),
  };
}

/** The peer on a database of its own with the same users, or why there is none. */
async function startPeerBeside(
  fake: FakeMailgun,
  servers: { stop(): Promise<void> }[],
  databases: { drop(): Promise<void> }[],
): Promise<RunningPeer | string> {
  const { dir, present } = peerDir();
  if (!present) {
    return `CRUD peer not found in ${dir} (set BENCH_PEER_DIR; \`npm ci\` there once): its rows are skipped.`;
  }
  const database = await createBenchDatabase();
  databases.push(database);
  const peer = await startPeer(dir, database.url, fake);
  servers.push(peer);
  process.stderr.write(`seeding ${USERS} users in the CRUD peer...\n`);
  await seedPeerUsers(database.url, USERS);
  await wrk(peer.url, 16, 2);
  return { process: peer, dbName: new URL(database.url).pathname.slice(1) };
}

/** WORKERS=2 on the bench database: its supervisor and both workers, once all of them listen. */
async function startWorkers(env: Record<string, string>): Promise<{
  server: ServerProcess;
  pids: number[];
}> {
  const server = await startServer({ ...env, WORKERS: "2" });
  await waitFor(() => logLines(server.output()).some((line) => line.msg === "workers started"), {
    timeoutMs: 60_000,
    what: "the WORKERS=2 supervisor's `workers started` line",
  });
  return { server, pids: [server.process.pid, ...descendants(server.process.pid)] };
}

async function main() {
  await ensureTools();
  const started = Date.now();
  const database = await createBenchDatabase();
  const databases = [database];
  const dbName = new URL(database.url).pathname.slice(1);
  const secretKey = randomBytes(32).toString("hex");
  const keyring = deriveKeyring(parseSecretKey(secretKey));
  const fake = await startFakeMailgun();
  const client = new pg.Client({ connectionString: database.url });
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  const servers: { stop(): Promise<void> }[] = [];
  try {
    process.stderr.write(`seeding ${USERS} users...\n`);
    await seedUsers(database.url, secretKey, USERS);
    const env = benchServerEnv(database.url, secretKey, fake);
    const server = await startServer(env);
    servers.push(server);
    const pid = server.process.pid;
    await client.connect();
    await admin.connect();
    // A table shaped like events (identity key, text, jsonb, timestamp) for PostgreSQL's own number.
    await client.query(`create table pgbench_events (
      global_position bigint generated always as identity primary key,
      event_id uuid not null unique, stream_id text not null, type text not null,
      data jsonb not null, recorded_at timestamptz not null default now())`);
    const statements = await statementCounter(client);
    if (!statements) process.stderr.write("pg_stat_statements is not loaded: statements n/a\n");
    const bench: Bench = { fake, client, admin, dbName, statements };

    const peer = await startPeerBeside(fake, servers, databases);
    const peerNote = typeof peer === "string" ? peer : undefined;
    if (peerNote !== undefined) process.stderr.write(`${peerNote}\n`);

    process.stderr.write("warming up...\n");
    await wrk(server.url, 16, 2);

    // Each load runs on the service, then at once on the peer: the machine is as alike as it gets.
    const rows: Row[] = [];
    const side: Measured[] = [];
    for (const load of LOADS) {
      const row = await measureService(bench, "service", server.url, [pid], load);
      rows.push(row);
      if (!load.sideBySide) continue;
      side.push(row);
      if (typeof peer !== "string") side.push(await measurePeer(bench, peer, load));
    }
    await fake.setMode("ok");

    process.stderr.write(
      `cross-process wake-up: ${WAKE_TRIGGERS} triggers on a second server...\n`,
    );
    const wake = await crossProcessWakeUp(env, client, keyring, servers);

    // The lone server goes first, so that every subscription runs in one of the workers.
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    const workers = await startWorkers(env);
    servers.push(workers.server);
    await wrk(workers.server.url, 16, 2);
    for (const load of LOADS.filter((l) => l.sideBySide)) {
      side.push(
        await measureService(bench, "service WORKERS=2", workers.server.url, workers.pids, load),
      );
    }
    await fake.setMode("ok");
    // pgbench needs the connections the servers' pools hold.
    for (const s of servers.splice(0).reverse()) await s.stop();

    const pgRows: (string | number)[][] = [];
    for (const [label, script] of [
      ["(c) pgbench one-row insert", "pgbench-insert.sql"],
      ["(c) pgbench insert + pg_notify", "pgbench-insert-notify.sql"],
    ] as const) {
      for (const connections of [16, 64]) {
        process.stderr.write(`${label}: -c${connections} for ${DURATION_S}s...\n`);
        // A PostgreSQL short of connections (other clients on a shared machine) costs a row, not the run.
        const result = await pgbench(database.url, script, connections, DURATION_S).catch(
          (error: Error) => {
            process.stderr.write(`${error.message}\n`);
            return { tps: Number.NaN, latency: Number.NaN };
          },
        );
        pgRows.push([label, connections, fmt(result.tps, 0), fmt(result.latency, 2)]);
      }
    }
    const insertAt16 = Number(pgRows[0]?.[2] ?? Number.NaN);

    const header = [
      "row",
      "connections",
      "req/s",
      "p50 ms",
      "p99 ms",
      "errors (timeouts)",
      "peak RSS MB",
      "server CPU ms/trigger",
      "PostgreSQL CPU ms/trigger",
      "statements/trigger",
      "event commits/trigger",
      "transactions/trigger",
      "commit→receipt p50/p99 ms",
      "receipt→outcome p50/p99 ms",
    ];
    const result = table(
      header,
      rows.map((r) => [
        r.label,
        r.connections,
        r.load.rps.toFixed(0),
        fmt(r.load.p50),
        fmt(r.load.p99),
        `${r.load.errors} (${r.load.timeouts})`,
        r.rssMb,
        fmt(r.cpu.serverMs / r.triggers, 2),
        fmt(r.cpu.postgresMs / r.triggers, 2),
        r.statements === undefined ? "n/a" : fmt(r.statements / r.triggers, 2),
        fmt(r.eventCommits / r.triggers, 2),
        fmt(r.commits / r.triggers, 2),
        `${fmt(r.receipt.p50)} / ${fmt(r.receipt.p99)}`,
        `${fmt(r.unrecorded.p50)} / ${fmt(r.unrecorded.p99)}`,
      ]),
    );
    const sideTable = table(
      [
        "row",
        "connections",
        "service",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors (timeouts)",
        "peak RSS MB per process",
        "CPU ms/trigger: server + PostgreSQL = total",
        "statements/trigger",
      ],
      LOADS.filter((l) => l.sideBySide).flatMap((load) =>
        side
          .filter((r) => r.label === load.label && r.connections === load.connections)
          .map((r) => [
            r.label,
            r.connections,
            r.who,
            r.load.rps.toFixed(0),
            fmt(r.load.p50),
            fmt(r.load.p99),
            `${r.load.errors} (${r.load.timeouts})`,
            r.rssMb,
            `${fmt(r.cpu.serverMs / r.triggers, 2)} + ${fmt(r.cpu.postgresMs / r.triggers, 2)} = ${fmt((r.cpu.serverMs + r.cpu.postgresMs) / r.triggers, 2)}`,
            // The service's rows only: the peer's database is not the one counted.
            "statements" in r && r.statements !== undefined
              ? fmt(Number(r.statements) / r.triggers, 2)
              : "n/a",
          ]),
      ),
    );
    const pgTable = table(["row", "connections", "tps", "latency avg ms"], pgRows);
    const first = rows[0];
    const ratio = first ? first.load.rps / insertAt16 : Number.NaN;
    const topTable = first?.top.length
      ? table(
          ["calls/trigger", "statement (row (a), 16 connections)"],
          first.top.map((s) => [
            fmt(s.calls / first.triggers, 2),
            `\`${s.query.replace(/\s+/g, " ").replace(/\|/g, "\\|").slice(0, 110)}\``,
          ]),
        )
      : "pg_stat_statements not loaded: no statement breakdown.";
    const wakeLine = `Cross-process commit → outcome-waiter wake-up (${wake.n} triggers on a server that does not own the mailer, 8 at a time; from the outcome's recorded_at to the client's receipt of the 200): p50 ${fmt(wake.p50)} ms, p99 ${fmt(wake.p99)} ms, errors ${wake.errors}.`;
    const minutes = ((Date.now() - started) / 60_000).toFixed(1);
    console.log(sideTable);
    if (peerNote !== undefined) console.log(peerNote);
    console.log(result);
    console.log(pgTable);
    console.log(`trigger / pgbench insert at 16 connections: ${fmt(ratio, 2)}`);
    console.log(wakeLine);
    console.log(topTable);
    console.log(`${minutes} min in all`);
    writeSection(
      "bench:load",
      `## Trigger load (\`npm run bench\`)

Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machineDescription()}, PostgreSQL on the same machine (shared with other work: read the CPU columns first).
${USERS.toLocaleString("en")} users; wrk for ${DURATION_S} s per row (2 threads, rotating emails, 2 s client timeout), RATE_LIMITS=off,
fake Mailgun on loopback; ${minutes} min in all. CPU per trigger: utime+stime from /proc of the server's processes and of the
PostgreSQL backends serving its database, over the row and until its last outcome. Statements per trigger:
pg_stat_statements (BEGIN and COMMIT count as statements); event commits: distinct transaction ids among the
row's events; transactions: pg_stat_database.xact_commit (read-only ones included). Receipt → outcome: from the
provider's receipt of an email to its PasswordResetEmailSent's recorded_at (a kill in between sends it again).

Side by side, in the same run: the CRUD peer (\`BENCH_PEER_DIR\`, its own database, the same users) right after
the service under each load, and \`WORKERS=2\` (its CPU summed over the supervisor and both workers) once the
lone server has stopped.

${sideTable}
${peerNote === undefined ? "" : `\n${peerNote}\n`}
${result}

${pgTable}

Trigger req/s at 16 connections / pgbench one-row-insert tps at 16: ${fmt(ratio, 2)} (target ≥ 0.3).
${wakeLine}

${topTable}

Targets: (a) req/s ≥ the peer's and server + PostgreSQL CPU per trigger ≤ the peer's, p99 ≤ 50 ms, 0 errors;
(b) ≥ 1,150 req/s and ≥ the peer's, p99 ≤ 400 ms, 0 errors and 0 timeouts; peak RSS ≤ 200 MB per process;
commit → receipt p99 ≤ 20 ms at 16; cross-process wake-up p99 ≤ 50 ms.`,
    );
  } finally {
    for (const s of servers.reverse()) await s.stop().catch(() => {});
    await client.end().catch(() => {});
    await admin.end().catch(() => {});
    await fake.stop();
    for (const d of databases) await d.drop();
  }
}

/**
 * A second server joins; the first keeps the mailer's lease, so every trigger sent to the second
 * learns its outcome from the other process. Latency runs from the outcome's recorded_at (its
 * transaction's start, so an upper bound) to the client's receipt of the answer.
 */
async function crossProcessWakeUp(
  env: Record<string, string>,
  client: pg.Client,
  keyring: ReturnType<typeof deriveKeyring>,
  servers: { stop(): Promise<void> }[],
): Promise<{ n: number; p50: number; p99: number; errors: number }> {
  const second = await startServer(env);
  servers.push(second);
  const answered: { email: string; at: number }[] = [];
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (next < WAKE_TRIGGERS) {
      const email = benchEmail(USERS - 1 - next++);
      const response = await fetch(`${second.url}/v1/auth/password-reset/trigger`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email }),
      });
      await response.arrayBuffer();
      if (response.status === 200) answered.push({ email, at: Date.now() });
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const delays: number[] = [];
  for (const { email, at } of answered) {
    const { rows } = await client.query<{ recorded_at: Date }>(
      `select recorded_at from events where stream_id = $1 and type = 'PasswordResetEmailSent'
       order by stream_version desc limit 1`,
      [await resetStreamIn(client, keyring, email)],
    );
    const committed = rows[0]?.recorded_at;
    if (committed) delays.push(at - committed.getTime());
  }
  delays.sort((a, b) => a - b);
  await second.stop();
  servers.pop();
  return {
    n: answered.length,
    p50: percentile(delays, 50),
    p99: percentile(delays, 99),
    errors,
  };
}

await main();
