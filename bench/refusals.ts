/**
 * Refused triggers and conceal timing (issues 10 and 11), against a server process on the local
 * PostgreSQL with the fake Mailgun:
 * - the owner's trigger and reset latency before and after 3,000 refused triggers for the same
 *   address from one attacker address, and how many events the flood added to the stream;
 * - with RESET_UNKNOWN_EMAIL=conceal and the provider answering in 200 ms, the answer times of
 *   known and unknown addresses.
 * Writes its section of BENCHMARKS.md.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { formatResetCode } from "../projections/emails/code-format";
import { generateResetCode } from "../src/password-reset/code";
import { startFakeMailgun } from "../test/support/fake-mailgun";
import { startServer } from "../test/support/server";
import { table, writeSection } from "./report";
import {
  BENCH_PASSWORD,
  benchEmail,
  benchServerEnv,
  createBenchDatabase,
  machineDescription,
  percentile,
  seedUsers,
} from "./support";

const FLOOD = 3000;
const SAMPLES = 30;

let ipCounter = 0;
const freshIp = () =>
  `10.${Math.floor(++ipCounter / 62500) % 250}.${Math.floor(ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`;

async function post(url: string, body: unknown, ip: string) {
  const started = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": ip },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - started };
}

const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const p95 = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    95,
  );
const ms = (n: number) => n.toFixed(1);

async function pool<T>(n: number, limit: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < n) {
        const i = next++;
        results[i] = await fn(i);
      }
    }),
  );
  return results;
}

async function refusals(secret: string) {
  const fake = await startFakeMailgun();
  const db = await createBenchDatabase();
  const server = await startServer({
    ...benchServerEnv(db.url, secret, fake),
    RATE_LIMITS: "on",
    TRUST_PROXY: "1",
  });
  const client = new pg.Client({ connectionString: db.url });
  try {
    await client.connect();
    const email = `owner-${randomBytes(4).toString("hex")}@bench.example.com`;
    const registered = await post(
      `${server.url}/v1/auth/register`,
      { email, password: BENCH_PASSWORD },
      freshIp(),
    );
    if (registered.status !== 201) throw new Error(`register answered ${registered.status}`);
    const countEvents = async () =>
      Number((await client.query("select count(*) from events")).rows[0].count);

    // The owner, each time from an address new to the email: one trigger gets through each.
    const ownerRound = async () => {
      const triggers: number[] = [];
      const resets: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const trigger = await post(
          `${server.url}/v1/auth/password-reset/trigger`,
          { email },
          freshIp(),
        );
        if (trigger.status !== 200) throw new Error(`owner trigger answered ${trigger.status}`);
        triggers.push(trigger.ms);
        const wrong = {
          code: formatResetCode(generateResetCode()),
          new_password: BENCH_PASSWORD,
          email,
        };
        const reset = await post(`${server.url}/v1/auth/password-reset/reset`, wrong, freshIp());
        if (reset.status !== 400) throw new Error(`owner reset answered ${reset.status}`);
        resets.push(reset.ms);
      }
      return { triggers, resets };
    };

    const before = await ownerRound();
    const eventsBefore = await countEvents();
    const attacker = freshIp();
    const started = performance.now();
    const flood = await pool(FLOOD, 8, () =>
      post(`${server.url}/v1/auth/password-reset/trigger`, { email }, attacker),
    );
    const floodSeconds = (performance.now() - started) / 1000;
    const refused = flood.filter((r) => r.status === 429).length;
    const eventsAfterFlood = await countEvents();
    const pending = Number(
      (await client.query("select coalesce(sum(refused), 0) as n from refusal_tallies")).rows[0].n,
    );
    const after = await ownerRound();
    return {
      rows: [
        [
          "before the flood",
          ms(median(before.triggers)),
          ms(p95(before.triggers)),
          ms(median(before.resets)),
          ms(p95(before.resets)),
        ],
        [
          `after ${FLOOD} refused triggers`,
          ms(median(after.triggers)),
          ms(p95(after.triggers)),
          ms(median(after.resets)),
          ms(p95(after.resets)),
        ],
      ],
      refused,
      floodSeconds,
      added: eventsAfterFlood - eventsBefore,
      pending,
    };
  } finally {
    await client.end().catch(() => {});
    await server.stop();
    await fake.stop();
    await db.drop();
  }
}

async function conceal(secret: string) {
  const fake = await startFakeMailgun();
  const db = await createBenchDatabase();
  const known = 100;
  await seedUsers(db.url, secret, known);
  const server = await startServer({
    ...benchServerEnv(db.url, secret, fake),
    RESET_UNKNOWN_EMAIL: "conceal",
  });
  try {
    await fake.setMode({ delayMs: 200 });
    const times = { known: [] as number[], unknown: [] as number[] };
    for (let n = 0; n < known; n++) {
      const unknown = await post(
        `${server.url}/v1/auth/password-reset/trigger`,
        { email: `nobody${n}@bench.example.com` },
        freshIp(),
      );
      const hit = await post(
        `${server.url}/v1/auth/password-reset/trigger`,
        { email: benchEmail(n) },
        freshIp(),
      );
      if (unknown.status !== 200 || hit.status !== 200) throw new Error("conceal answered non-200");
      times.unknown.push(unknown.ms);
      times.known.push(hit.ms);
    }
    return [
      ["known", ms(median(times.known)), ms(p95(times.known))],
      ["unknown", ms(median(times.unknown)), ms(p95(times.unknown))],
    ];
  } finally {
    await server.stop();
    await fake.stop();
    await db.drop();
  }
}

const secret = randomBytes(32).toString("hex");
const flooded = await refusals(secret);
const concealed = await conceal(secret);
const body = `## Refused triggers and conceal timing (\`npm run bench:refusals\`)

${machineDescription()}; ${new Date().toISOString().slice(0, 16)} UTC. One server process on the
local PostgreSQL, the fake Mailgun on loopback, \`TRUST_PROXY=1\`, limits on.

**The owner under a flood of refused triggers.** ${SAMPLES} triggers (answered 200, email sent)
and ${SAMPLES} wrong-code resets with the email, each from an address new to the email, before
and after ${FLOOD} triggers for the same address from one attacker address (8 at a time,
${flooded.floodSeconds.toFixed(1)} s, ${flooded.refused} refused with 429). The flood added
${flooded.added} events to the log (requests, outcomes, the first refusal of each tally in the
email's stream and in the attacker's own, and counts), with ${flooded.pending} refusals counted
in running tallies, logged when they end.

${table(["owner", "trigger p50 ms", "trigger p95 ms", "reset p50 ms", "reset p95 ms"], flooded.rows)}

**Conceal mode.** \`RESET_UNKNOWN_EMAIL=conceal\`, provider answering in 200 ms, 100
known and 100 unknown addresses alternately, one at a time, \`RATE_LIMITS=off\`:

${table(["address", "p50 ms", "p95 ms"], concealed)}
`;
writeSection("refusals", body);
process.stdout.write(body);
