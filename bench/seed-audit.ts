/**
 * A realistic event log for the audit benchmark: by default 1,000,000 events of 10,000 users over
 * six simulated months, written through a bulk path that keeps every invariant of the real append
 * path (EventStore.appendAll with the inline projections, the mailers' outcome events):
 *
 * - the same tables and columns; events carry `recorded_at` in the past, in commit order;
 * - one real data key per user (newDataKey, wrapped under SECRET_KEY), sealed personal data exactly
 *   as the services seal it (sealedEmail, sealedIp, sealedUserAgent, sealedCode, sealedPasswordHash),
 *   reset codes only as `codeHash` + `sealedCode`, IPs of rejections only as `ipHash`;
 * - stream ids as the services build them (`user-<id>`, `resetStreamId(keyring, email)`, the
 *   attempts stream of an IP), gap-free stream versions, deterministic ids of outcome events;
 * - the read models as the inline projections leave them: `users` (sealed_email, email_lookup,
 *   password hash and password_changed_at), `reset_codes` (final status), `sessions` (logins after
 *   the last password change), erased users without key, row or sessions, minus what the server's
 *   sweep of expired rows (src/maintenance.ts) deletes; the mailers' subscription checkpoints past
 *   the seeded log, so a server started on it has nothing to catch up.
 *
 * Events go in time order, ~1,000 per statement: one INSERT … SELECT FROM json_to_recordset per
 * table in one statement (one transaction), so `transaction_id` is the writing transaction's.
 * The next batch is built (sealing is the CPU cost) while PostgreSQL writes the current one.
 *
 * The shape is planned in seed-audit/plan.ts, written by seed-audit/write.ts and checked by
 * seed-audit/verify.ts.
 *
 * Run alone: `SECRET_KEY=<hex> bun bench/seed-audit.ts postgres://…/db` (a fresh database).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { loadConfig } from "../src/config";
import { sweepExpired } from "../src/maintenance";
import { resetStreamId } from "../src/password-reset/streams";
import type { Keyring } from "../src/privacy";
import { emailLookup } from "../src/privacy";
import { openCore, readModelSweeps } from "../src/runtime";
import { auditEmail, DAY, HOUR, plan } from "./seed-audit/plan";
import { countByType, verify } from "./seed-audit/verify";
import {
  checkpointMailers,
  type Writer,
  writeDataKeys,
  writeEvents,
  writeUsers,
} from "./seed-audit/write";

export interface SeedAuditOptions {
  databaseUrl: string;
  /** SECRET_KEY as the server gets it (hex or base64, ≥ 32 bytes). */
  secretKey: string;
  users?: number;
  events?: number;
  months?: number;
  /** The simulated history ends here (default: an hour ago). */
  end?: Date;
  /** Seed of the shape (who does what when); keys, codes and ids are always random. */
  seed?: number;
  batchSize?: number;
  progress?: (line: string) => void;
}

export interface SeededUser {
  /** n of `auditEmail(n)`. */
  n: number;
  id: string;
  email: string;
  erased: boolean;
  /** Events in the user's own stream and reset stream. */
  events: number;
}

export interface SeedAuditResult {
  users: SeededUser[];
  events: number;
  streams: number;
  byType: Record<string, number>;
  from: Date;
  to: Date;
  seconds: number;
}

export const SEED_DEFAULTS = { users: 10_000, events: 1_000_000, months: 6 } as const;

const PASSWORD = "Bench-Passw0rd!";
const CHANGED_PASSWORD = "Bench-Changed-Passw0rd!";

/** Writes the seed into a migrated (or fresh) database; see the file comment for what it keeps. */
export async function seedAuditDatabase(options: SeedAuditOptions): Promise<SeedAuditResult> {
  const started = performance.now();
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const users = options.users ?? SEED_DEFAULTS.users;
  const target = options.events ?? SEED_DEFAULTS.events;
  const months = options.months ?? SEED_DEFAULTS.months;
  const end = (options.end ?? new Date(Date.now() - HOUR)).getTime();
  const start = end - Math.round(months * 30.44 * DAY);
  const batchSize = options.batchSize ?? 1000;
  const elapsed = () => ((performance.now() - started) / 1000).toFixed(1);

  // The run's keys, DataKeys and the migrations, exactly as the server opens them.
  const core = await openCore(
    loadConfig({ DATABASE_URL: options.databaseUrl, SECRET_KEY: options.secretKey }),
  );
  const client = new pg.Client({ connectionString: options.databaseUrl });
  await client.connect();
  try {
    const { rows: existing } = await client.query<{ n: string }>(
      "select count(*) as n from events",
    );
    if (Number(existing[0]?.n) > 0) throw new Error("the database already has events");
    await client.query("set synchronous_commit = off");

    const [initial, changed] = await Promise.all([
      Bun.password.hash(PASSWORD, { algorithm: "argon2id" }),
      Bun.password.hash(CHANGED_PASSWORD, { algorithm: "argon2id" }),
    ]);
    const { users: people, specs } = plan(
      core.keyring,
      { users, events: target, seed: options.seed ?? 42 },
      start,
      end,
    );
    progress(`seed-audit: planned ${specs.length.toLocaleString("en")} events (${elapsed()} s)`);

    await writeDataKeys(client, core.keyring, people);
    const writer: Writer = {
      keyring: core.keyring,
      now: Date.now(),
      versions: new Map(),
      hashes: { initial, changed },
      events: [],
      sessions: [],
      codes: [],
    };
    const written = await writeEvents(client, writer, specs, batchSize, (n) => {
      const rate = Math.round(n / Number(elapsed()));
      progress(
        `seed-audit: ${n.toLocaleString("en")}/${specs.length.toLocaleString("en")} events (${elapsed()} s, ${rate.toLocaleString("en")}/s)`,
      );
    });
    const live = people.filter((u) => u.erasedAt === undefined);
    await writeUsers(client, core.keyring, live, writer.hashes);
    await checkpointMailers(client);

    // The server sweeps expired read-model rows every 10 minutes: leave what a sweep leaves.
    await sweepExpired(core.db, readModelSweeps);
    await verify(client, core, live, target);
    const byType = await countByType(client);
    const seconds = (performance.now() - started) / 1000;
    progress(`seed-audit: done in ${seconds.toFixed(1)} s`);
    return {
      users: people.map((u) => ({
        n: u.n,
        id: u.id,
        email: u.email,
        erased: u.erasedAt !== undefined,
        events: u.events,
      })),
      events: written,
      streams: writer.versions.size,
      byType,
      from: new Date(start),
      to: new Date(end),
      seconds,
    };
  } finally {
    await client.end().catch(() => {});
    await core.database.close();
  }
}

/**
 * The seeded users of a database seeded earlier with the same SECRET_KEY: ids come from the users
 * rows, matched to `auditEmail(n)` by their email lookup hash (erased users are not found).
 */
export async function loadSeededUsers(
  databaseUrl: string,
  keyring: Keyring,
  count: number = SEED_DEFAULTS.users,
): Promise<SeededUser[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string; email_lookup: string }>(
      "select id, email_lookup from users",
    );
    const { rows: streams } = await client.query<{ stream_id: string; n: string }>(
      "select stream_id, count(*) as n from events group by stream_id",
    );
    const sizes = new Map(streams.map((r) => [r.stream_id, Number(r.n)]));
    const byLookup = new Map(rows.map((r) => [r.email_lookup, r.id]));
    const users: SeededUser[] = [];
    for (let n = 0; n < count; n++) {
      const email = auditEmail(n);
      const id = byLookup.get(emailLookup(keyring, email));
      if (id === undefined) continue;
      const events =
        (sizes.get(`user-${id}`) ?? 0) + (sizes.get(resetStreamId(keyring, email)) ?? 0);
      users.push({ n, id, email, erased: false, events });
    }
    if (users.length === 0) throw new Error("no seeded users found (another SECRET_KEY?)");
    return users;
  } finally {
    await client.end();
  }
}

if (import.meta.main) {
  const databaseUrl = process.argv[2] ?? process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error("usage: SECRET_KEY=<hex> bun bench/seed-audit.ts <database url>");
    process.exit(2);
  }
  let secretKey = process.env.SECRET_KEY;
  if (!secretKey) {
    secretKey = randomBytes(32).toString("hex");
    process.stderr.write(`SECRET_KEY=${secretKey}\n`);
  }
  const result = await seedAuditDatabase({
    databaseUrl,
    secretKey,
    users: Number(process.env.SEED_USERS ?? SEED_DEFAULTS.users),
    events: Number(process.env.SEED_EVENTS ?? SEED_DEFAULTS.events),
  });
  console.log(
    JSON.stringify(
      {
        events: result.events,
        streams: result.streams,
        users: result.users.length,
        seconds: Math.round(result.seconds),
        byType: result.byType,
      },
      null,
      2,
    ),
  );
}
