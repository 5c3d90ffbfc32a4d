/**
 * What the fault drills share: a bounded trigger load that records every answer, the reset
 * log read back from PostgreSQL, the tally that maps acknowledgements to emails, and control
 * of the machine's PostgreSQL cluster (stopped only inside a drill, always started again).
 */
import { readdirSync } from "node:fs";
import pg from "pg";
import { parseSecretKey } from "../src/config";
import { deriveKeyring, emailLookup } from "../src/privacy";
import { runCommand } from "../test/support/command";
import type { FakeMailgun } from "../test/support/fake-mailgun";
import { benchEmail } from "./support";

export const TRIGGER = "/v1/auth/password-reset/trigger";

/** One trigger request and how it ended. */
export interface Trigger {
  user: number;
  email: string;
  url: string;
  startedAt: number;
  endedAt: number;
  /** HTTP status; 0 when the connection failed, -1 when our own timeout cut it. */
  status: number;
}

export interface LoadOptions {
  /** The servers to spread triggers over, read before every request (restarts change them). */
  urls: () => readonly string[];
  concurrency: number;
  /** Users `firstUser .. firstUser + users - 1` are triggered once each, in order. */
  firstUser?: number;
  users: number;
  /** Hard stop for the whole load, in ms. */
  maxMs: number;
  /** Per-request ceiling, so a hung answer is recorded rather than waited on forever. */
  requestTimeoutMs: number;
}

export interface Load {
  readonly records: readonly Trigger[];
  /** 200s answered at or after `since` (epoch ms). */
  acknowledgedSince(since: number): number;
  stop(): Promise<void>;
  /** Resolves when every worker has ended (stopped, out of users, or out of time). */
  done: Promise<void>;
}

/** Bounded concurrent trigger load: each user at most once, ends by itself. */
export function startLoad(options: LoadOptions): Load {
  const records: Trigger[] = [];
  const first = options.firstUser ?? 0;
  const end = first + options.users;
  const deadline = Date.now() + options.maxMs;
  let next = first;
  let stopped = false;

  const worker = async () => {
    while (!stopped && next < end && Date.now() < deadline) {
      const urls = options.urls();
      const user = next++;
      const url = urls[user % urls.length] as string;
      const email = benchEmail(user);
      const startedAt = Date.now();
      let status: number;
      try {
        const res = await fetch(`${url}${TRIGGER}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email }),
          signal: AbortSignal.timeout(options.requestTimeoutMs),
        });
        await res.arrayBuffer();
        status = res.status;
      } catch (error) {
        status = (error as Error).name === "TimeoutError" ? -1 : 0;
      }
      records.push({ user, email, url, startedAt, endedAt: Date.now(), status });
      // A server that is down (or its database) fails at once: pace the failures, so that the
      // users are not all spent on an outage.
      if (status !== 200) await Bun.sleep(50);
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, worker)).then(() => {});
  return {
    records,
    acknowledgedSince: (since) =>
      records.filter((r) => r.status === 200 && r.endedAt >= since).length,
    async stop() {
      stopped = true;
      await done;
    },
    done,
  };
}

/** Polls check() until it returns true or the deadline passes; returns whether it did. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await Bun.sleep(intervalMs);
  }
}

export interface ResetLog {
  requested: { requestId: string; userId: string }[];
  outcomes: {
    type: string;
    requestId: string;
    providerMessageId: string | null;
    reason: string | null;
  }[];
  /** user id by bench address, for the users that exist. */
  userIdByEmail: Map<string, string>;
}

/** Reads the reset requests and outcomes, and maps bench addresses to user ids. */
export async function readResetLog(
  databaseUrl: string,
  secretKey: string,
  emails: Iterable<string>,
): Promise<ResetLog> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const requested = await client.query<{ requestId: string; userId: string }>(
      `select data->>'requestId' as "requestId", data->>'userId' as "userId"
         from events where type = 'PasswordResetRequested' order by global_position`,
    );
    const outcomes = await client.query<{
      type: string;
      requestId: string;
      providerMessageId: string | null;
      reason: string | null;
    }>(
      `select type, data->>'requestId' as "requestId",
              data->>'providerMessageId' as "providerMessageId", data->>'reason' as reason
         from events where type in ('PasswordResetEmailSent', 'PasswordResetEmailFailed')
         order by global_position`,
    );
    const keyring = deriveKeyring(parseSecretKey(secretKey));
    const lookups = new Map<string, string>();
    for (const email of emails) lookups.set(emailLookup(keyring, email), email);
    const users = await client.query<{ id: string; email_lookup: string }>(
      "select id, email_lookup from users where email_lookup = any($1::text[])",
      [[...lookups.keys()]],
    );
    const userIdByEmail = new Map<string, string>();
    for (const row of users.rows) {
      const email = lookups.get(row.email_lookup);
      if (email) userIdByEmail.set(email, row.id);
    }
    return { requested: requested.rows, outcomes: outcomes.rows, userIdByEmail };
  } finally {
    await client.end();
  }
}

/** Waits until every PasswordResetRequested has an outcome; returns how many still lack one. */
export async function waitForOutcomes(databaseUrl: string, timeoutMs: number): Promise<number> {
  let pending = Number.POSITIVE_INFINITY;
  await until(
    async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      try {
        await client.connect();
        const { rows } = await client.query<{ pending: string }>(
          `select count(*) as pending from events r
            where r.type = 'PasswordResetRequested'
              and not exists (select 1 from events o
                where o.stream_id = r.stream_id
                  and o.type in ('PasswordResetEmailSent', 'PasswordResetEmailFailed')
                  and o.data->>'requestId' = r.data->>'requestId')`,
        );
        pending = Number(rows[0]?.pending ?? 0);
      } catch {
        // The database may be coming back; poll again.
      } finally {
        await client.end().catch(() => {});
      }
      return pending === 0;
    },
    timeoutMs,
    200,
  );
  return pending;
}

export interface Tally {
  acknowledged: number;
  requested: number;
  outcomes: number;
  emails: number;
  duplicates: number;
  lost: number;
  /** Extra counts: failed outcomes, requests without an outcome, non-200 answers. */
  failed: number;
  pending: number;
  errors: number;
  /** Acknowledged addresses whose accepted-email count is not exactly one. */
  notExactlyOne: number;
  /** Addresses that got more than one email with different codes (a duplicate must repeat its code). */
  differentCodes: number;
  /** Emails the provider accepted whose request is logged neither as sent nor as `unknown`. */
  unlogged: number;
  lostEmails: string[];
}

/** The code as the email shows it: the one text line of 20 Crockford characters in groups. */
const SHOWN_CODE = /^[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){4}$/;
const codeOf = (fields: Record<string, string[]>) =>
  (fields.text?.[0] ?? "").split(/\r?\n/).find((line) => SHOWN_CODE.test(line)) ?? "";

const recipient = (fields: Record<string, string[]>) => fields.to?.[0] ?? "";

/** An email another transport than the fake Mailgun took (SMTP in the failover drill). */
export interface OtherEmail {
  to: string;
  /** The id its transport answered, as the Sent event records it. */
  id: string;
  code: string;
}

/**
 * Maps each acknowledged trigger to its request (one user per trigger, so one request per
 * address) and its emails, and counts what the drill line reports.
 */
export async function tally(
  databaseUrl: string,
  secretKey: string,
  fake: FakeMailgun,
  records: readonly Trigger[],
  others: readonly OtherEmail[] = [],
): Promise<Tally> {
  const triggered = new Set(records.map((r) => r.email));
  const log = await readResetLog(databaseUrl, secretKey, triggered);
  const acknowledged = new Set(records.filter((r) => r.status === 200).map((r) => r.email));

  const messagesByEmail = new Map<string, string[]>();
  const codesByEmail = new Map<string, Set<string>>();
  for (const m of fake.messages) {
    const to = recipient(m.fields);
    messagesByEmail.set(to, [...(messagesByEmail.get(to) ?? []), m.id]);
    codesByEmail.set(to, (codesByEmail.get(to) ?? new Set()).add(codeOf(m.fields)));
  }
  for (const { to, id, code } of others) {
    messagesByEmail.set(to, [...(messagesByEmail.get(to) ?? []), id]);
    codesByEmail.set(to, (codesByEmail.get(to) ?? new Set()).add(code));
  }
  const requestsByUser = new Map<string, string[]>();
  for (const r of log.requested) {
    requestsByUser.set(r.userId, [...(requestsByUser.get(r.userId) ?? []), r.requestId]);
  }
  const sentByRequest = new Map<string, string>();
  const withOutcome = new Set<string>();
  for (const o of log.outcomes) {
    withOutcome.add(o.requestId);
    if (o.type === "PasswordResetEmailSent")
      sentByRequest.set(o.requestId, o.providerMessageId ?? "");
  }

  // One trigger per address: an address's emails are its one request's emails.
  const duplicates = [...messagesByEmail.values()].filter((ids) => ids.length > 1).length;
  const lostEmails: string[] = [];
  let notExactlyOne = 0;
  for (const email of acknowledged) {
    const accepted = messagesByEmail.get(email) ?? [];
    if (accepted.length !== 1) notExactlyOne++;
    const userId = log.userIdByEmail.get(email);
    const requests = userId ? (requestsByUser.get(userId) ?? []) : [];
    // The Sent event must name a message the provider really accepted for this address.
    const sent = requests.some((id) => accepted.includes(sentByRequest.get(id) ?? "\0"));
    if (accepted.length === 0 || !sent) lostEmails.push(email);
  }
  // Every accepted email, acknowledged or not: its request must say sent, or that it may be.
  const truthful = new Set(
    log.outcomes
      .filter((o) => o.type === "PasswordResetEmailSent" || o.reason === "unknown")
      .map((o) => o.requestId),
  );
  let unlogged = 0;
  for (const [email, ids] of messagesByEmail) {
    const userId = log.userIdByEmail.get(email);
    const requests = userId ? (requestsByUser.get(userId) ?? []) : [];
    if (!requests.some((id) => truthful.has(id))) unlogged += ids.length;
  }
  return {
    acknowledged: acknowledged.size,
    requested: log.requested.length,
    outcomes: log.outcomes.length,
    emails: fake.messages.length + others.length,
    duplicates,
    lost: lostEmails.length,
    failed: log.outcomes.filter((o) => o.type === "PasswordResetEmailFailed").length,
    pending: log.requested.filter((r) => !withOutcome.has(r.requestId)).length,
    errors: records.filter((r) => r.status !== 200).length,
    notExactlyOne,
    differentCodes: [...codesByEmail.values()].filter((codes) => codes.size > 1).length,
    unlogged,
    lostEmails,
  };
}

/** The drill's one line: the required counts first, then the drill's own fields. */
export function drillLine(name: string, t: Tally, extra: Record<string, string | number> = {}) {
  const fields: Record<string, string | number> = {
    acknowledged: t.acknowledged,
    requested: t.requested,
    outcomes: t.outcomes,
    emails: t.emails,
    duplicates: t.duplicates,
    lost: t.lost,
    unlogged: t.unlogged,
    ...extra,
  };
  return `drill ${name}: ${Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`;
}

// ---------------------------------------------------------------------------------------------
// The machine's PostgreSQL cluster.

const CLUSTER_VERSION = readdirSync("/etc/postgresql").sort().at(-1) ?? "15";

async function run(cmd: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await runCommand(cmd);
  return { code, output: `${stdout}${stderr}`.trim() };
}

export async function pgctl(action: "start" | "stop"): Promise<void> {
  const result = await run([
    "pg_ctlcluster",
    "--skip-systemctl-redirect",
    CLUSTER_VERSION,
    "main",
    action,
  ]);
  if (result.code !== 0) throw new Error(`pg_ctlcluster ${action}: ${result.output}`);
}

export async function pgIsReady(): Promise<boolean> {
  return (await run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"])).code === 0;
}

/** Makes sure the cluster runs and accepts connections (starting it if needed). */
export async function ensurePostgresRunning(timeoutMs = 60_000): Promise<void> {
  if (await pgIsReady()) return;
  await pgctl("start").catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  });
  if (!(await until(pgIsReady, timeoutMs, 100))) {
    throw new Error("PostgreSQL did not come back: check pg_lsclusters");
  }
}
