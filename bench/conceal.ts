/**
 * Whether the trigger's answer time tells known addresses from unknown ones in conceal mode:
 * one server process on the local PostgreSQL with the fake Mailgun, `RATE_LIMITS=off`, the
 * first trigger of each address, known and unknown interleaved at random, one at a time. For
 * each provider mode: median and p90 per group, the Mann-Whitney z, and the best one-request
 * guess by a time threshold. Prints a table; the target is |z| < 3 and no guess above 55%.
 *
 * CONCEAL_SAMPLES (default 400) sets the triggers per group and mode.
 */
import { randomBytes } from "node:crypto";
import {
  DEFAULT_FAKE_API_KEY,
  DEFAULT_FAKE_DOMAIN,
  type FakeMode,
} from "../test/support/fake-mailgun";
import { startServer } from "../test/support/server";
import { table } from "./report";
import { bestThresholdAccuracy, mannWhitneyZ } from "./stats";
import {
  benchEmail,
  benchServerEnv,
  createBenchDatabase,
  machineDescription,
  percentile,
  seedUsers,
} from "./support";

const SAMPLES = Number(process.env.CONCEAL_SAMPLES ?? 400);
const WARM_UP = 40;
/** Same length as benchEmail(n), so the address's length tells nothing either. */
const unknownEmail = (n: number) => `nope${n}@bench.example.com`;

const MODES: { name: string; mode: FakeMode }[] = [
  { name: "at once", mode: "ok" },
  { name: "slow (200 ms)", mode: { delayMs: 200 } },
  { name: "failing (500)", mode: { status: 500 } },
];

async function trigger(baseUrl: string, email: string): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${baseUrl}/v1/auth/password-reset/trigger`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email }),
  });
  await res.arrayBuffer();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`trigger for ${email} answered ${res.status}`);
  return ms;
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32LE() % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * The fake Mailgun as a process of its own, driven by its control API: the provider's work
 * must not share the measuring client's event loop (an attacker's client shares nothing).
 */
async function startProvider() {
  const child = Bun.spawn([process.execPath, "test/support/fake-mailgun.ts", "--port", "0"], {
    cwd: `${import.meta.dir}/..`,
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  let printed = "";
  while (!printed.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the fake Mailgun exited before printing its URL");
    printed += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const url = printed.trim();
  return {
    url,
    apiKey: DEFAULT_FAKE_API_KEY,
    domain: DEFAULT_FAKE_DOMAIN,
    async setMode(mode: FakeMode) {
      const res = await fetch(`${url}/_fake/mode`, { method: "POST", body: JSON.stringify(mode) });
      if (!res.ok) throw new Error(`the fake Mailgun refused mode ${JSON.stringify(mode)}`);
    },
    async stop() {
      child.kill();
      await child.exited;
    },
  };
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const ms = (n: number) => n.toFixed(2);

/** Each address triggered once: `next` hands out addresses no earlier trigger named. */
async function measure(baseUrl: string, count: number, next: { known: number; unknown: number }) {
  const plan = shuffled([
    ...Array.from({ length: count }, () => "known" as const),
    ...Array.from({ length: count }, () => "unknown" as const),
  ]);
  const times = { known: [] as number[], unknown: [] as number[] };
  for (const kind of plan) {
    const email = kind === "known" ? benchEmail(next.known++) : unknownEmail(next.unknown++);
    times[kind].push(await trigger(baseUrl, email));
  }
  return times;
}

const secret = randomBytes(32).toString("hex");
const fake = await startProvider();
const db = await createBenchDatabase();
const rows: string[][] = [];
let met = true;
try {
  await seedUsers(db.url, secret, MODES.length * (SAMPLES + WARM_UP));
  const server = await startServer({
    ...benchServerEnv(db.url, secret, fake),
    RESET_UNKNOWN_EMAIL: "conceal",
  });
  try {
    const next = { known: 0, unknown: 0 };
    for (const { name, mode } of MODES) {
      await fake.setMode(mode);
      await measure(server.url, WARM_UP, next);
      const { known, unknown } = await measure(server.url, SAMPLES, next);
      const { z } = mannWhitneyZ(known, unknown);
      const guess = bestThresholdAccuracy(known, unknown);
      if (Math.abs(z) >= 3 || guess > 0.55) met = false;
      const k = sorted(known);
      const u = sorted(unknown);
      rows.push([
        name,
        `${ms(percentile(k, 50))} / ${ms(percentile(k, 90))}`,
        `${ms(percentile(u, 50))} / ${ms(percentile(u, 90))}`,
        z.toFixed(2),
        `${(guess * 100).toFixed(1)}%`,
      ]);
      process.stderr.write(`${name}: done\n`);
    }
  } finally {
    await server.stop();
  }
} finally {
  await fake.stop();
  await db.drop();
}

process.stdout.write(`Conceal timing (\`npm run bench:conceal\`): ${machineDescription()};
${new Date().toISOString().slice(0, 16)} UTC. One server process on the local PostgreSQL, the
fake Mailgun on loopback in a process of its own, RESET_UNKNOWN_EMAIL=conceal, RATE_LIMITS=off.
Per provider mode, ${SAMPLES} first triggers of known and ${SAMPLES} of unknown addresses,
interleaved at random, one at a time, after ${WARM_UP} of each not counted.

${table(["provider", "known p50 / p90 ms", "unknown p50 / p90 ms", "Mann-Whitney z", "best one-request guess"], rows)}

Target |z| < 3 and no guess above 55%: ${met ? "met" : "NOT met"}.
`);
