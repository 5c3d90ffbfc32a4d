/**
 * Fault drills against PostgreSQL (`npm run drill [-- name ...]`): each drill gets a fresh
 * database, the fake Mailgun in this process and the server(s) as child processes with
 * RATE_LIMITS=off, drives bounded trigger load (one user per trigger, so every 200 maps to one
 * address), breaks something, and prints one line of counts:
 *
 *   kill9          kill -9 the server five times under load, restarting it on the same database
 *   pg-restart     stop PostgreSQL under load for ~2 s: 500s while down, none hanging past the
 *                  dispatch timeout + 2 s, the first 200 within 5 s of pg_isready
 *   mailgun-faults the provider answers 20% 500, 10% 429, 5% slow: one accepted send per 200
 *   two-servers    two processes share the load: no email twice
 *   failover       MAIL_TRANSPORTS=mailgun,smtp, Mailgun's port closed mid-run: the emails go by
 *                  SMTP meanwhile, each address still gets exactly one
 *
 * Exits non-zero when an acknowledged request is lost, a request has no outcome at the end, an
 * accepted email's request is logged neither as sent nor as `unknown`, or a drill's own rule breaks. The pg-restart drill restarts the machine's shared PostgreSQL and
 * always starts it again (finally, and on SIGINT/SIGTERM).
 */
import { randomBytes } from "node:crypto";
import { startFakeMailgun } from "../test/support/fake-mailgun";
import { mulberry32 } from "../test/support/random";
import { type ServerProcess, startServer } from "../test/support/server";
import { codesIn, startSmtpCatcher } from "../test/support/smtp-catcher";
import {
  drillLine,
  ensurePostgresRunning,
  type Load,
  type OtherEmail,
  pgctl,
  pgIsReady,
  startLoad,
  type Tally,
  tally,
  until,
  waitForOutcomes,
} from "./drill-support";
import { writeSection } from "./report";
import { benchServerEnv, createBenchDatabase, machineDescription, seedUsers } from "./support";

interface DrillResult {
  line: string;
  failures: string[];
}

interface Setup {
  databaseUrl: string;
  secretKey: string;
  fake: Awaited<ReturnType<typeof startFakeMailgun>>;
  env: Record<string, string>;
  servers: ServerProcess[];
}

/** A fresh database with `users` seeded users, the fake, and the servers' environment. */
async function withSetup(
  users: number,
  fakeOptions: Parameters<typeof startFakeMailgun>[0],
  extraEnv: Record<string, string>,
  body: (setup: Setup) => Promise<DrillResult>,
): Promise<DrillResult> {
  const database = await createBenchDatabase();
  const secretKey = randomBytes(32).toString("hex");
  const fake = await startFakeMailgun(fakeOptions);
  const servers: ServerProcess[] = [];
  try {
    await seedUsers(database.url, secretKey, users);
    const env = { ...benchServerEnv(database.url, secretKey, fake), ...extraEnv };
    return await body({ databaseUrl: database.url, secretKey, fake, env, servers });
  } finally {
    await Promise.allSettled(servers.map((s) => (s.process.exitCode === null ? s.stop() : null)));
    await fake.stop();
    await ensurePostgresRunning();
    await database.drop().catch((error: unknown) => {
      process.stderr.write(`drop database: ${String(error)}\n`);
    });
  }
}

/** Lets the last outcomes land and the fake answer everything it received, then counts. */
async function settle(
  setup: Setup,
  load: Load,
  outcomeTimeoutMs: number,
  others: () => OtherEmail[] = () => [],
): Promise<Tally> {
  const statuses = new Map<string, number>();
  for (const r of load.records) {
    const key = r.status === 0 ? "refused" : r.status === -1 ? "timeout" : String(r.status);
    statuses.set(key, (statuses.get(key) ?? 0) + 1);
  }
  log(`answers: ${[...statuses].map(([k, n]) => `${k}×${n}`).join(" ")}`);
  await waitForOutcomes(setup.databaseUrl, outcomeTimeoutMs);
  await setup.fake
    .waitFor((_, attempts) => attempts.every((a) => a.outcome !== "pending"), 15_000)
    .catch(() => {});
  return tally(setup.databaseUrl, setup.secretKey, setup.fake, load.records, others());
}

/** The failures every drill shares: lost acknowledgements and requests left without outcome. */
function commonFailures(t: Tally): string[] {
  const failures: string[] = [];
  if (t.lost > 0)
    failures.push(`${t.lost} acknowledged lost (${t.lostEmails.slice(0, 3).join(", ")})`);
  if (t.pending > 0) failures.push(`${t.pending} requests without an outcome`);
  if (t.unlogged > 0)
    failures.push(`${t.unlogged} accepted emails logged neither as sent nor as unknown`);
  return failures;
}

/** Drills (c) and (d): every 200 has exactly one accepted send, and no address got two. */
function exactlyOneEmailFailures(t: Tally): string[] {
  const failures: string[] = [];
  if (t.duplicates > 0) failures.push(`${t.duplicates} addresses got more than one email`);
  if (t.notExactlyOne > 0) failures.push(`${t.notExactlyOne} 200s without exactly one email`);
  return failures;
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);
const log = (message: string) => process.stderr.write(`  ${message}\n`);

// ---------------------------------------------------------------------------------------------

/** (a) kill -9 five times under load, restarting on the same database and SECRET_KEY. */
async function kill9(): Promise<DrillResult> {
  const KILLS = 5;
  return withSetup(8000, {}, {}, async (setup) => {
    let current = await startServer(setup.env);
    setup.servers.push(current);
    const load = startLoad({
      urls: () => [current.url],
      concurrency: 16,
      users: 8000,
      maxMs: 150_000,
      requestTimeoutMs: 20_000,
    });
    const started = Date.now();
    let restartedAt = Date.now();
    for (let kill = 1; kill <= KILLS; kill++) {
      // Kill once this process has answered some 200s (its mailer holds the lease and sends).
      await until(() => load.acknowledgedSince(restartedAt) >= 20, 15_000);
      await Bun.sleep(Math.floor(Math.random() * 250));
      await current.kill();
      log(`kill ${kill} at ${seconds(Date.now() - started)} s`);
      current = await startServer(setup.env);
      setup.servers.push(current);
      restartedAt = Date.now();
    }
    // Some load on the last process too, then stop and wait for every outcome.
    await until(() => load.acknowledgedSince(restartedAt) >= 20, 15_000);
    await load.stop();
    const t = await settle(setup, load, 60_000);
    return {
      line: drillLine("kill9", t, {
        kills: KILLS,
        different_codes: t.differentCodes,
        failed: t.failed,
        errors: t.errors,
        pending: t.pending,
      }),
      failures: [
        ...commonFailures(t),
        ...(t.differentCodes > 0 ? [`${t.differentCodes} addresses got two different codes`] : []),
      ],
    };
  });
}

let postgresDown = false;

/** (b) PostgreSQL stopped for ~2 s under load, then started again. */
async function pgRestart(): Promise<DrillResult> {
  const TIMEOUT_MS = 5000;
  return withSetup(6000, {}, { RESET_DISPATCH_TIMEOUT_MS: String(TIMEOUT_MS) }, async (setup) => {
    const server = await startServer(setup.env);
    setup.servers.push(server);
    const load = startLoad({
      urls: () => [server.url],
      concurrency: 8,
      users: 6000,
      maxMs: 90_000,
      requestTimeoutMs: TIMEOUT_MS + 15_000,
    });
    let stopAt = 0;
    let downAt = 0;
    let readyAt = 0;
    try {
      await until(() => load.acknowledgedSince(0) >= 30, 20_000);
      stopAt = Date.now();
      postgresDown = true;
      await pgctl("stop");
      downAt = Date.now();
      log(`PostgreSQL stopped in ${Date.now() - stopAt} ms`);
      await Bun.sleep(2000);
      // pg_ctlcluster returns a while after the server accepts connections: time pg_isready.
      const starting = pgctl("start");
      await until(pgIsReady, 60_000, 20);
      readyAt = Date.now();
      await starting;
      postgresDown = false;
      log(`PostgreSQL ready after ${seconds(readyAt - downAt)} s down`);
      // Load until the first 200 after PostgreSQL is back, then two seconds more.
      await until(
        () => load.acknowledgedSince(readyAt) > 0 || server.process.exitCode !== null,
        20_000,
        10,
      );
      await Bun.sleep(2000);
    } finally {
      await ensurePostgresRunning();
      postgresDown = false;
      await load.stop();
    }

    // A crashed server is restarted as a supervisor would, so its requests still get outcomes.
    const crashed = server.process.exitCode;
    if (crashed !== null) {
      const tail = server.output().trimEnd().split("\n").slice(-12).join("\n");
      log(`server output before it exited:\n${tail}`);
      setup.servers.push(await startServer(setup.env));
    }
    const t = await settle(setup, load, 60_000);
    const records = load.records;
    // Every answer that overlapped the outage, and those wholly inside it.
    const overlapping = records.filter((r) => r.startedAt <= readyAt && r.endedAt >= stopAt);
    const maxDownLatency = Math.max(0, ...overlapping.map((r) => r.endedAt - r.startedAt));
    const whileDown = records.filter((r) => r.startedAt >= downAt && r.endedAt <= readyAt);
    const not500 = whileDown.filter((r) => r.status !== 500);
    const firstOk = records
      .filter((r) => r.status === 200 && r.endedAt >= readyAt)
      .reduce((min, r) => Math.min(min, r.endedAt), Number.POSITIVE_INFINITY);
    const recovery = firstOk - readyAt;

    const failures = commonFailures(t);
    if (maxDownLatency > TIMEOUT_MS + 2000) {
      failures.push(
        `an answer took ${maxDownLatency} ms during the outage (> ${TIMEOUT_MS + 2000})`,
      );
    }
    if (!Number.isFinite(recovery)) failures.push("no 200 after PostgreSQL was back");
    else if (recovery > 5000) failures.push(`first 200 ${recovery} ms after pg_isready (> 5000)`);
    if (whileDown.length === 0) failures.push("no request was answered while PostgreSQL was down");
    if (not500.length > 0) {
      const statuses = [...new Set(not500.map((r) => (r.status === 0 ? "refused" : r.status)))];
      failures.push(`${not500.length} requests while down were not answered 500 (${statuses})`);
    }
    if (crashed !== null)
      failures.push(`the server exited with ${crashed} when PostgreSQL stopped`);
    return {
      line: drillLine("pg-restart", t, {
        max_down_latency_ms: maxDownLatency,
        recovery_ms: Number.isFinite(recovery) ? recovery : "none",
        down_requests: whileDown.length,
        down_500: whileDown.length - not500.length,
        down_refused: whileDown.filter((r) => r.status === 0).length,
        timeout_ms: TIMEOUT_MS,
        failed: t.failed,
        errors: t.errors,
      }),
      failures,
    };
  });
}

/** (c) The provider fails often: 20% 500, 10% 429, 5% slow (2 s, under the 10 s dispatch timeout). */
async function mailgunFaults(): Promise<DrillResult> {
  // The fake's fault rolls are seeded, so the fault pattern repeats.
  return withSetup(2000, { random: mulberry32(0xd1e11) }, {}, async (setup) => {
    await setup.fake.setMode({
      random: { fail500: 0.2, fail429: 0.1, slow: 0.05, slowMs: 2000 },
    });
    const server = await startServer(setup.env);
    setup.servers.push(server);
    const load = startLoad({
      urls: () => [server.url],
      concurrency: 16,
      users: 2000,
      maxMs: 15_000,
      requestTimeoutMs: 25_000,
    });
    await load.done;
    const t = await settle(setup, load, 60_000);
    const failures = [...commonFailures(t), ...exactlyOneEmailFailures(t)];
    const faults = setup.fake.attempts.filter((a) => a.outcome === "failed").length;
    return {
      line: drillLine("mailgun-faults", t, {
        attempts: setup.fake.attempts.length,
        provider_faults: faults,
        failed: t.failed,
        errors: t.errors,
      }),
      failures,
    };
  });
}

/** (d) Two server processes on one database share the load. */
async function twoServers(): Promise<DrillResult> {
  return withSetup(4000, {}, {}, async (setup) => {
    const a = await startServer(setup.env);
    setup.servers.push(a);
    const b = await startServer(setup.env);
    setup.servers.push(b);
    const load = startLoad({
      urls: () => [a.url, b.url],
      concurrency: 16,
      users: 4000,
      maxMs: 12_000,
      requestTimeoutMs: 25_000,
    });
    await load.done;
    const t = await settle(setup, load, 60_000);
    const failures = [...commonFailures(t), ...exactlyOneEmailFailures(t)];
    const perServer = [a, b].map(
      (s) => load.records.filter((r) => r.url === s.url && r.status === 200).length,
    );
    return {
      line: drillLine("two-servers", t, {
        per_server: perServer.join("/"),
        failed: t.failed,
        errors: t.errors,
      }),
      failures,
    };
  });
}

/** (e) MAIL_TRANSPORTS=mailgun,smtp with Mailgun's port closed mid-run, then open again. */
async function failover(): Promise<DrillResult> {
  const smtp = await startSmtpCatcher();
  try {
    const env = { MAIL_TRANSPORTS: "mailgun,smtp", SMTP_URL: smtp.url };
    return await withSetup(3000, {}, env, async (setup) => {
      const server = await startServer(setup.env);
      setup.servers.push(server);
      const load = startLoad({
        urls: () => [server.url],
        concurrency: 16,
        users: 3000,
        maxMs: 20_000,
        requestTimeoutMs: 25_000,
      });
      await until(() => load.acknowledgedSince(0) >= 100, 20_000);
      await setup.fake.setMode("refuse");
      const downAt = Date.now();
      log("Mailgun's port closed");
      await until(() => load.acknowledgedSince(downAt) >= 200, 20_000);
      await setup.fake.setMode("ok");
      log(`Mailgun back after ${seconds(Date.now() - downAt)} s`);
      await load.done;
      const t = await settle(setup, load, 60_000, () =>
        smtp.mails.map((m) => ({ to: m.to[0] ?? "", id: m.messageId, code: codesIn(m)[0] ?? "" })),
      );
      const failures = [...commonFailures(t), ...exactlyOneEmailFailures(t)];
      if (smtp.mails.length === 0) failures.push("no email went by SMTP while Mailgun was down");
      return {
        line: drillLine("failover", t, {
          by_mailgun: setup.fake.messages.length,
          by_smtp: smtp.mails.length,
          failed: t.failed,
          errors: t.errors,
        }),
        failures,
      };
    });
  } finally {
    await smtp.stop();
  }
}

// ---------------------------------------------------------------------------------------------

const DRILLS: Record<string, () => Promise<DrillResult>> = {
  kill9,
  "pg-restart": pgRestart,
  "mailgun-faults": mailgunFaults,
  "two-servers": twoServers,
  failover,
};

async function main(): Promise<number> {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((name) => !(name in DRILLS));
  if (unknown.length > 0) {
    console.error(`unknown drill ${unknown.join(", ")}; drills: ${Object.keys(DRILLS).join(", ")}`);
    return 2;
  }
  const names = asked.length > 0 ? asked : Object.keys(DRILLS);
  await ensurePostgresRunning();

  const lines: string[] = [];
  const failures: string[] = [];
  const began = Date.now();
  for (const name of names) {
    process.stderr.write(`drill ${name}...\n`);
    const drillStarted = Date.now();
    let result: DrillResult;
    try {
      result = await (DRILLS[name] as () => Promise<DrillResult>)();
    } catch (error) {
      result = {
        line: `drill ${name}: error=${JSON.stringify(error instanceof Error ? error.message : String(error))}`,
        failures: ["the drill itself failed"],
      };
    }
    console.log(result.line);
    log(`${seconds(Date.now() - drillStarted)} s`);
    lines.push(result.line);
    for (const failure of result.failures) {
      failures.push(`${name}: ${failure}`);
      console.error(`  FAIL ${name}: ${failure}`);
    }
  }
  const total = seconds(Date.now() - began);
  console.log(
    `${failures.length === 0 ? "all drills passed" : `${failures.length} failures`} in ${total} s`,
  );

  if (asked.length === 0) {
    writeSection(
      "bench:drill",
      `## Fault drills (\`npm run drill\`)

Run ${new Date().toISOString().slice(0, 10)} on ${machineDescription()}, PostgreSQL on the same machine;
fresh database per drill, RATE_LIMITS=off, fake Mailgun on loopback, one user per trigger; ${total} s in all.
kill9: kill -9 five times under load, restart on the same database. pg-restart: PostgreSQL stopped ~2 s under
load (RESET_DISPATCH_TIMEOUT_MS=5000). mailgun-faults: 20% 500, 10% 429, 5% slow (2 s). two-servers: two processes share the load.
failover: MAIL_TRANSPORTS=mailgun,smtp, Mailgun's port closed mid-run until 200 more triggers were answered.
\`lost\` = 200s without a PasswordResetEmailSent naming an email the provider accepted for that address.
\`unlogged\` = emails the provider accepted whose request is logged neither as sent nor as failed with reason \`unknown\`.

\`\`\`
${lines.join("\n")}
\`\`\`

${failures.length === 0 ? "All drills passed." : `Failures:\n\n${failures.map((f) => `- ${f}`).join("\n")}`}`,
    );
  }
  return failures.length === 0 ? 0 : 1;
}

// Never leave the machine's PostgreSQL stopped, whatever ends this process.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    const restore = postgresDown ? ensurePostgresRunning() : Promise.resolve();
    void restore.finally(() => process.exit(130));
  });
}

const code = await main().catch(async (error: unknown) => {
  console.error(error);
  await ensurePostgresRunning().catch(() => {});
  return 1;
});
process.exit(code);
