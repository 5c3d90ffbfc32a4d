/**
 * The trigger under a long load on few emails, so that each email's reset stream grows fast
 * (RATE_LIMITS=off, provider at once): events written per interval and the server's RSS over
 * the run. A trigger whose cost grew with its stream's length would write less and less.
 * Then the same emails and as many fresh ones, one short run each, side by side. A warm-up on
 * a third set of emails first, so the first interval is not the JIT's.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { passwordResetStreamPrefix } from "../events/password-reset";
import { startFakeMailgun } from "../test/support/fake-mailgun";
import { startServer } from "../test/support/server";
import { table, writeSection } from "./report";
import {
  backendsCpu,
  benchServerEnv,
  cpuMs,
  createBenchDatabase,
  ensureTools,
  machineDescription,
  seedUsers,
  wrkTriggers,
} from "./support";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const INTERVAL_S = Number(process.env.SOAK_INTERVAL_SECONDS ?? 10);
const USERS = Number(process.env.SOAK_USERS ?? 300);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
const COMPARE_S = Number(process.env.SOAK_COMPARE_SECONDS ?? 10);
const WARMUP_S = Number(process.env.SOAK_WARMUP_SECONDS ?? 5);

/** Resident memory of a process now (VmRSS), in MB. */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0) / 1024);
}

/** wrk's rotating-email load on `users` emails from the `offset`-th seeded one. */
const wrk = (url: string, seconds: number, users: number, offset: number) =>
  wrkTriggers(url, { connections: CONNECTIONS, seconds, users, offset });

async function eventCount(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>("select count(*)::text as n from events");
  return Number(rows[0]?.n ?? 0);
}

async function main() {
  await ensureTools();
  const started = Date.now();
  const database = await createBenchDatabase();
  const secretKey = randomBytes(32).toString("hex");
  const fake = await startFakeMailgun();
  const client = new pg.Client({ connectionString: database.url });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    // The soak's emails, the fresh ones compared with them after it, and the warm-up's.
    process.stderr.write(`seeding ${3 * USERS} users...\n`);
    await seedUsers(database.url, secretKey, 3 * USERS);
    server = await startServer(benchServerEnv(database.url, secretKey, fake));
    const pid = server.process.pid;
    await client.connect();
    if (WARMUP_S > 0) await wrk(server.url, WARMUP_S, USERS, 2 * USERS);

    process.stderr.write(`soak: wrk -c${CONNECTIONS} on ${USERS} emails for ${SECONDS}s...\n`);
    const rows: (string | number)[][] = [];
    const written: number[] = [];
    /** Server and PostgreSQL CPU ms per event written, per interval. */
    const cost: number[] = [];
    let peak = rssMb(pid);
    const rssAtStart = peak;
    let done = false;
    const load = wrk(server.url, SECONDS, USERS, 0).finally(() => {
      done = true;
    });
    let last = await eventCount(client);
    let serverCpu = cpuMs(pid);
    let postgresCpu = await backendsCpu(client);
    const t0 = Date.now();
    for (let i = 1; !done; i++) {
      let intervalPeak = 0;
      // Sample RSS each second; stop at the interval's end or when the load ends.
      while (Date.now() < t0 + i * INTERVAL_S * 1000 && !done) {
        await Promise.race([
          Bun.sleep(Math.min(1000, t0 + i * INTERVAL_S * 1000 - Date.now())),
          load,
        ]);
        intervalPeak = Math.max(intervalPeak, rssMb(pid));
      }
      const count = await eventCount(client);
      const rss = rssMb(pid);
      intervalPeak = Math.max(intervalPeak, rss);
      const server = cpuMs(pid);
      const postgres = await backendsCpu(client);
      let postgresMs = 0;
      for (const [backend, ms] of postgres) postgresMs += ms - (postgresCpu.get(backend) ?? 0);
      const perEvent = (ms: number) => ((1000 * ms) / Math.max(1, count - last)).toFixed(0);
      const seconds = Math.min(i * INTERVAL_S, (Date.now() - t0) / 1000);
      // A partial last interval (wrk's own end) is not a full interval's work: left out.
      if (!done || seconds >= i * INTERVAL_S - 0.5) {
        written.push(count - last);
        cost.push((server - serverCpu + postgresMs) / Math.max(1, count - last));
        peak = Math.max(peak, intervalPeak);
        rows.push([
          `${(i - 1) * INTERVAL_S}–${i * INTERVAL_S}`,
          count - last,
          perEvent(server - serverCpu),
          perEvent(postgresMs),
          rss,
          intervalPeak,
        ]);
      }
      last = count;
      serverCpu = server;
      postgresCpu = postgres;
    }
    const soak = await load;
    // The soak's streams are the longest ones (the warm-up's had a few seconds).
    const { rows: lengths } = await client.query<{ max: number | null; avg: string | null }>(
      `select max(n) as max, avg(n)::numeric(10, 1)::text as avg from (
         select count(*)::int as n from events where stream_id like $1
         group by stream_id order by n desc limit $2) s`,
      [`${passwordResetStreamPrefix}%`, USERS],
    );
    const first = written[0] ?? 0;
    const lastWritten = written.at(-1) ?? 0;
    const ratio = first > 0 ? lastWritten / first : Number.NaN;

    let compare = "";
    if (COMPARE_S > 0) {
      process.stderr.write(
        `then ${COMPARE_S}s on the same emails, ${COMPARE_S}s on fresh ones...\n`,
      );
      const same = await wrk(server.url, COMPARE_S, USERS, 0);
      const fresh = await wrk(server.url, COMPARE_S, USERS, USERS);
      compare = `Right after: the same ${USERS} emails ${same.rps.toFixed(0)} req/s (${same.errors} errors), ${USERS} fresh emails ${fresh.rps.toFixed(0)} req/s (${fresh.errors} errors): ratio ${(same.rps / fresh.rps).toFixed(2)}.`;
    }

    const result = table(
      [
        "seconds",
        "events written",
        "server CPU µs/event",
        "PostgreSQL CPU µs/event",
        "RSS MB at end",
        "peak RSS MB",
      ],
      rows,
    );
    const summary = [
      `Soak: ${soak.rps.toFixed(0)} req/s over ${SECONDS}s, ${soak.errors} errors; reset streams reached ${lengths[0]?.max ?? 0} events (mean ${lengths[0]?.avg ?? 0}).`,
      `Events written, last ${INTERVAL_S}s / first ${INTERVAL_S}s: ${lastWritten} / ${first} = ${ratio.toFixed(2)} (target ≥ 0.85).`,
      `Server + PostgreSQL CPU per event, last ${INTERVAL_S}s / first ${INTERVAL_S}s: ${(1000 * (cost.at(-1) ?? 0)).toFixed(0)} / ${(1000 * (cost[0] ?? 0)).toFixed(0)} µs = ${((cost.at(-1) ?? 0) / (cost[0] ?? 1)).toFixed(2)}.`,
      `Server RSS: ${rssAtStart} MB at the start, peak ${peak} MB (target ≤ 200 MB throughout).`,
      compare,
    ]
      .filter(Boolean)
      .join("\n");
    console.log(result);
    console.log(summary);
    const minutes = ((Date.now() - started) / 60_000).toFixed(1);
    writeSection(
      "bench:soak",
      `## Soak (\`npm run bench:soak\`)

Run ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machineDescription()}, PostgreSQL on the same machine.
wrk with ${CONNECTIONS} connections on ${USERS} emails (rotating) for ${SECONDS} s, RATE_LIMITS=off, fake Mailgun
answering at once; ${minutes} min in all. Events written: rows added to \`events\` per ${INTERVAL_S} s; CPU:
utime+stime from /proc of the server and of the PostgreSQL backends serving the bench database, per event
written (less sensitive to other load on the machine than the counts); RSS: the server's VmRSS, sampled each second.

${result}

${summary}`,
    );
  } finally {
    await server?.stop().catch(() => {});
    await client.end().catch(() => {});
    await fake.stop();
    await database.drop();
  }
}

await main();
