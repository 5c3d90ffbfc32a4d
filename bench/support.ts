import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import pg from "pg";
import { userStreamId } from "../events/user";
import { loadConfig } from "../src/config";
import { resetStreamId } from "../src/password-reset/streams";
import { emailLookup, type Keyring, seal } from "../src/privacy";
import { openCore } from "../src/runtime";
import { runCommand } from "../test/support/command";

export const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const BENCH_PASSWORD = "Bench-Passw0rd!";
export const benchEmail = (n: number) => `user${n}@bench.example.com`;

export async function sh(
  cmd: string[],
  options: { env?: Record<string, string> } = {},
): Promise<string> {
  const { code, stdout, stderr } = await runCommand(cmd, {
    env: { ...process.env, ...options.env },
  });
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${stderr || stdout}`);
  return stdout;
}

/** wrk and pgbench come from Debian's packages; install wrk when this machine lacks it. */
export async function ensureTools(): Promise<void> {
  if (Bun.which("wrk") === null) {
    process.stderr.write("installing wrk (apt-get)...\n");
    await sh(["apt-get", "install", "-y", "wrk"]).catch(async () => {
      await sh(["apt-get", "update"]);
      await sh(["apt-get", "install", "-y", "wrk"]);
    });
  }
  if (Bun.which("pgbench") === null)
    throw new Error("pgbench is missing (postgresql-contrib / postgresql client)");
}

export async function createBenchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/**
 * Registers users through the real append path (data key, sealed email, UserRegistered, the
 * users projection), many per transaction, with one argon2id hash computed once: hashing
 * 10,000 passwords would measure argon2, not the service.
 */
export async function seedUsers(
  databaseUrl: string,
  secretKey: string,
  count: number,
  batch = 500,
) {
  const core = await openCore(loadConfig({ DATABASE_URL: databaseUrl, SECRET_KEY: secretKey }));
  const passwordHash = await Bun.password.hash(BENCH_PASSWORD, { algorithm: "argon2id" });
  try {
    for (let start = 0; start < count; start += batch) {
      await core.store.transact(async (trx) => {
        const writes = [];
        for (let n = start; n < Math.min(count, start + batch); n++) {
          const userId = crypto.randomUUID();
          const key = await core.dataKeys.create(trx, userId);
          writes.push({
            streamId: userStreamId(userId),
            expectedVersion: 0 as const,
            events: [
              {
                type: "UserRegistered",
                data: {
                  userId,
                  sealedEmail: seal(key, userId, benchEmail(n)),
                  sealedPasswordHash: seal(key, userId, passwordHash),
                },
              },
            ],
          });
        }
        return writes;
      });
    }
  } finally {
    await core.database.close();
  }
}

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** Answers other than 2xx. */
  non2xx: number;
  errors: number;
  timeouts: number;
}

/** wrk's duration ("850.12us", "1.20ms", "2.00s", "1.00m") in ms. */
function ms(value: string): number {
  const m = value.match(/^([\d.]+)(us|ms|s|m)$/);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

/** wrk's rotating-email trigger load (trigger.lua) on `users` seeded emails from the `offset`-th. */
export async function wrkTriggers(
  url: string,
  load: { connections: number; seconds: number; users: number; offset?: number },
): Promise<WrkResult> {
  const out = await sh(
    [
      "wrk",
      "-t2",
      `-c${load.connections}`,
      `-d${load.seconds}s`,
      "--timeout",
      "2s",
      "--latency",
      "-s",
      join(import.meta.dir, "trigger.lua"),
      url,
    ],
    { env: { BENCH_USERS: String(load.users), BENCH_USER_OFFSET: String(load.offset ?? 0) } },
  );
  const requests = Number(out.match(/(\d+) requests in/)?.[1] ?? 0);
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  return {
    rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? 0),
    p50: ms(out.match(/^\s*50%\s+(\S+)/m)?.[1] ?? ""),
    p99: ms(out.match(/^\s*99%\s+(\S+)/m)?.[1] ?? ""),
    requests,
    non2xx,
    errors: non2xx + socketErrors,
    timeouts: Number(socket?.[4] ?? 0),
  };
}

// Linux's USER_HZ: /proc counts CPU time in ticks of 10 ms.
const CLK_TCK = 100;

/** utime + stime of a process, in ms; 0 once it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** CPU ms of each PostgreSQL backend serving `database` (the client's own when not named). */
export async function backendsCpu(
  client: pg.Client,
  database?: string,
): Promise<Map<number, number>> {
  const { rows } = await client.query<{ pid: number }>(
    "select pid from pg_stat_activity where datname = coalesce($1, current_database())",
    [database ?? null],
  );
  return new Map(rows.map((r) => [r.pid, cpuMs(r.pid)]));
}

/** The highest peak resident memory (VmHWM) of these processes since the last reset, in MB. */
export function peakRssMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      kb = Math.max(kb, Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0));
    } catch {}
  }
  return Math.round(kb / 1024);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

export function machineDescription(): string {
  const cpu =
    readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.+)/)?.[1] ?? "unknown CPU";
  const cores = readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm)?.length ?? 0;
  const memGb = Math.round(
    Number(readFileSync("/proc/meminfo", "utf8").match(/MemTotal:\s+(\d+)/)?.[1] ?? 0) /
      1024 /
      1024,
  );
  return `${cores} cores (${cpu.trim()}), ${memGb} GiB, Bun ${Bun.version}`;
}

/** The server environment every benchmark and drill starts from: PostgreSQL, no limits, the fake. */
export function benchServerEnv(
  databaseUrl: string,
  secretKey: string,
  fake: { url: string; apiKey: string; domain: string },
): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    SECRET_KEY: secretKey,
    RATE_LIMITS: "off",
    MAILGUN_URL: fake.url,
    MAILGUN_API_KEY: fake.apiKey,
    MAILGUN_DOMAIN: fake.domain,
  };
}

/** An email's reset stream as the service finds it: its registered stream, else the keyed one. */
export async function resetStreamIn(
  client: pg.Client,
  keyring: Keyring,
  email: string,
): Promise<string> {
  const { rows } = await client.query<{ stream_id: string }>(
    "select stream_id from reset_streams where email_lookup = $1",
    [emailLookup(keyring, email)],
  );
  return rows[0]?.stream_id ?? resetStreamId(keyring, email);
}

/**
 * The CRUD peer's folder: BENCH_PEER_DIR, by default `../shared/peer` beside the repository;
 * undefined when it holds no installed peer (its rows are then skipped with a note).
 */
export function peerDir(): { dir: string; present: boolean } {
  const dir = resolve(
    process.env.BENCH_PEER_DIR ?? join(import.meta.dir, "..", "..", "shared", "peer"),
  );
  const present = existsSync(join(dir, "server.ts")) && existsSync(join(dir, "node_modules"));
  return { dir, present };
}

export interface PeerProcess {
  url: string;
  pid: number;
  /** The last of what it printed, for an error message. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the peer as its README does (`bun server.ts` with DATABASE_URL, SECRET_KEY, the
 * Mailgun settings and PORT) on a free port; resolves once it prints its port.
 */
export async function startPeer(
  dir: string,
  databaseUrl: string,
  fake: { url: string; apiKey: string; domain: string },
): Promise<PeerProcess> {
  const child = Bun.spawn([process.execPath, "server.ts"], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: databaseUrl,
      SECRET_KEY: randomBytes(32).toString("hex"),
      MAILGUN_API_KEY: fake.apiKey,
      MAILGUN_DOMAIN: fake.domain,
      MAILGUN_URL: fake.url,
      PORT: "0",
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  let announce: (port: number) => void = () => {};
  const announced = new Promise<number>((resolve) => {
    announce = resolve;
  });
  // Kept draining for the whole run so that the peer never blocks on a full pipe.
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output = (output + decoder.decode(chunk, { stream: true })).slice(-8_000);
      const port = output.match(/peer listening on (\d+)/)?.[1];
      if (port !== undefined) announce(Number(port));
    }
  };
  void pump(child.stdout);
  void pump(child.stderr);
  const port = await Promise.race([
    announced,
    child.exited.then((code) => {
      throw new Error(`the peer exited with ${code} before listening:\n${output}`);
    }),
    Bun.sleep(30_000).then(() => {
      throw new Error(`the peer did not listen within 30 s:\n${output}`);
    }),
  ]).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    output: () => output,
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
    },
  };
}

/** The users seedUsers registers in the service, in the peer's table: same emails, one hash. */
export async function seedPeerUsers(databaseUrl: string, count: number): Promise<void> {
  const passwordHash = await Bun.password.hash(BENCH_PASSWORD, { algorithm: "argon2id" });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `insert into users (id, email, password_hash)
       select gen_random_uuid(), 'user' || n || '@bench.example.com', $1
       from generate_series(0, $2::int - 1) as n`,
      [passwordHash, count],
    );
  } finally {
    await client.end();
  }
}
