/**
 * The trigger endpoint under load, next to what PostgreSQL itself does on this machine:
 * wrk against the server (RATE_LIMITS=off, fake Mailgun on loopback) and pgbench with a
 * one-row INSERT into a comparable table, at the same concurrencies. The ratio of the two is
 * the headline, since machine speed cancels out. Results go to BENCHMARKS.md.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import pg from "pg";
import { startFakeMailgun } from "../test/support/fake-mailgun";
import { startServer } from "../test/support/server";
import { table, writeSection } from "./report";
import {
  benchServerEnv,
  createBenchDatabase,
  ensureTools,
  machineDescription,
  peakRssMb,
  percentile,
  seedUsers,
  sh,
} from "./support";

const USERS = 10_000;
const DURATION_S = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCIES = [16, 64];

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
}

function ms(value: string): number {
  const m = value.match(/^([\d.]+)(us|ms|s|m)$/);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

async function wrk(url: string, connections: number, seconds: number): Promise<WrkResult> {
  const out = await sh(
    [
      "wrk",
      "-t2",
      `-c${connections}`,
      `-d${seconds}s`,
      "--latency",
      "-s",
      join(import.meta.dir, "trigger.lua"),
      url,
    ],
    { env: { BENCH_USERS: String(USERS) } },
  );
  const requests = Number(out.match(/(\d+) requests in/)?.[1] ?? 0);
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  return {
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? 0),
    p50: ms(out.match(/50%\s+(\S+)/)?.[1] ?? ""),
    p99: ms(out.match(/99%\s+(\S+)/)?.[1] ?? ""),
    requests,
    errors: non2xx + socketErrors,
  };
}

async function pgbench(url: string, connections: number, seconds: number): Promise<number> {
  const script = join(import.meta.dir, "pgbench-insert.sql");
  const out = await sh([
    "pgbench",
    "-n",
    `-c${connections}`,
    "-j2",
    `-T${seconds}`,
    "-f",
    script,
    url,
  ]);
  return Number(out.match(/tps = ([\d.]+) \(without initial connection time\)/)?.[1] ?? 0);
}

async function main() {
  await ensureTools();
  const database = await createBenchDatabase();
  const secretKey = randomBytes(32).toString("hex");
  const fake = await startFakeMailgun();
  const client = new pg.Client({ connectionString: database.url });
  try {
    process.stderr.write(`seeding ${USERS} users...\n`);
    await seedUsers(database.url, secretKey, USERS);
    const server = await startServer(benchServerEnv(database.url, secretKey, fake));
    await client.connect();
    // A table shaped like events (identity key, text, jsonb, timestamp) for PostgreSQL's own number.
    await client.query(`create table pgbench_events (
      global_position bigint generated always as identity primary key,
      event_id uuid not null unique, stream_id text not null, type text not null,
      data jsonb not null, recorded_at timestamptz not null default now())`);

    process.stderr.write("warming up...\n");
    await wrk(server.url, 16, 2);

    const rows: (string | number)[][] = [];
    for (const connections of CONCURRENCIES) {
      const { rows: mark } = await client.query<{ p: string }>(
        "select coalesce(max(global_position), 0) as p from events",
      );
      const from = Number(mark[0]?.p ?? 0);
      process.stderr.write(`wrk -c${connections} for ${DURATION_S}s...\n`);
      const load = await wrk(server.url, connections, DURATION_S);
      // Let the last outcomes land before measuring commit → receipt.
      await fake.waitFor(() => true, 1000);
      const { rows: pairs } = await client.query<{ committed: Date; message_id: string }>(
        `select r.recorded_at as committed, s.data->>'providerMessageId' as message_id
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
      process.stderr.write(`pgbench -c${connections} for ${DURATION_S}s...\n`);
      const tps = await pgbench(database.url, connections, DURATION_S);
      rows.push([
        connections,
        load.rps.toFixed(0),
        load.p50.toFixed(1),
        load.p99.toFixed(1),
        load.errors,
        tps.toFixed(0),
        (load.rps / tps).toFixed(2),
        percentile(delays, 50).toFixed(1),
        percentile(delays, 99).toFixed(1),
      ]);
    }
    const rss = peakRssMb(server.process.pid);
    await server.stop();

    const header = [
      "connections",
      "trigger req/s",
      "p50 ms",
      "p99 ms",
      "errors",
      "pgbench tps",
      "ratio",
      "commit→receipt p50 ms",
      "commit→receipt p99 ms",
    ];
    const result = table(header, rows);
    console.log(result);
    console.log(`server peak RSS: ${rss} MB`);
    writeSection(
      "bench:load",
      `## Trigger load (\`npm run bench\`)

Run ${new Date().toISOString().slice(0, 10)} on ${machineDescription()}, PostgreSQL on the same machine.
${USERS.toLocaleString("en")} users; wrk for ${DURATION_S} s per row (2 threads, rotating emails), RATE_LIMITS=off,
fake Mailgun on loopback; pgbench runs a one-row INSERT into a table shaped like \`events\`.

${result}

Server peak RSS: ${rss} MB. Targets: ratio ≥ 0.5 at 16 connections, p99 ≤ 50 ms at 16,
RSS ≤ 200 MB, commit → receipt p99 ≤ 20 ms.`,
    );
  } finally {
    await client.end().catch(() => {});
    await fake.stop();
    await database.drop();
  }
}

await main();
