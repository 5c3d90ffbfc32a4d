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
 * Run alone: `SECRET_KEY=<hex> bun bench/seed-audit.ts postgres://…/db` (a fresh database).
 */
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { outcomeEventId } from "../projections/reset-mailer";
import { loadConfig } from "../src/config";
import { deterministicUuid } from "../src/event-store";
import { sweepExpired } from "../src/maintenance";
import { generateResetCode } from "../src/password-reset/code";
import { emailLimit, HISTORY_WINDOW_MS } from "../src/password-reset/decider";
import { resetStreamId } from "../src/password-reset/streams";
import { emailLookup, type Keyring, keyedHash, seal } from "../src/privacy";
import { newDataKey, wrapDataKey } from "../src/privacy/crypto";
import { openCore } from "../src/runtime";

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

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SESSION_TTL_MS = DAY;
const CODE_TTL_MS = 600 * SECOND;
const DISPATCH_WINDOW_MS = 10_000 - 250;
const PASSWORD = "Bench-Passw0rd!";
const CHANGED_PASSWORD = "Bench-Changed-Passw0rd!";

const FIRST = ["anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas"];
const LAST = ["meier", "schmidt", "novak", "rossi", "garcia", "dubois", "kowalski", "jensen"];
const DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"];
const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
  "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
  "okhttp/4.12.0",
  "ResetLedgerApp/2.3.1 (iOS 18.1)",
];

/** The address of seeded user n: deterministic, so a seeded database can be reused. */
export const auditEmail = (n: number) =>
  `${FIRST[n % FIRST.length]}.${LAST[Math.floor(n / FIRST.length) % LAST.length]}${n}@${DOMAINS[n % DOMAINS.length]}`;

// --- the simulated shape ---------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so two seedings have the same shape. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    gauss: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}
type Rng = ReturnType<typeof prng>;

enum Kind {
  Registered,
  LoggedIn,
  Requested,
  EmailSent,
  EmailFailed,
  Rejected,
  CodeRejected,
  Completed,
  PasswordChanged,
  NoticeSent,
  NoticeFailed,
  Erased,
  UnknownCode,
}

interface Client {
  ip: string;
  ua: string;
}

interface UserPlan {
  n: number;
  id: string;
  email: string;
  key: Buffer;
  sealedEmail: string;
  registeredAt: number;
  erasedAt: number | undefined;
  lastChangeAt: number | undefined;
  clients: Client[];
  weight: number;
  events: number;
}

interface RequestPlan {
  requestId: string;
  eventId: string;
  httpId: string;
  client: Client;
  status: "active" | "superseded" | "used" | "locked";
}

/** One event to write; the sealing happens when it is written, in time order. */
interface Spec {
  t: number;
  kind: Kind;
  /** The user, or the reset stream's owner; undefined for streams of no account. */
  user: UserPlan | undefined;
  stream: string;
  httpId: string;
  client: Client;
  request?: RequestPlan;
  /** Kind-specific: rejection / failure details, the PasswordChanged event id, … */
  extra?: Record<string, unknown>;
  /** Written in the same transaction as the next spec (reset completion + password change). */
  withNext?: boolean;
}

function randomIp(rng: Rng): string {
  if (rng.chance(0.1)) {
    const h = () => rng.int(0, 0xffff).toString(16);
    return `2a02:${h()}:${h()}:${h()}::${h()}`;
  }
  return `${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

function newClient(rng: Rng): Client {
  return { ip: randomIp(rng), ua: rng.pick(USER_AGENTS) };
}

/** The per-email trigger limits exactly as decideTrigger applies them, over the window it reads. */
const emailLimited = (attempts: number[], now: number) =>
  emailLimit(
    attempts.filter((t) => t > now - HISTORY_WINDOW_MS).map((at) => ({ at, ipHash: "seed" })),
    "seed",
    now,
  );

function resetEpisodes(rng: Rng): number {
  const r = rng.next();
  if (r < 0.25) return 0;
  if (r < 0.5) return 1;
  if (r < 0.7) return 2;
  if (r < 0.82) return 3;
  if (r < 0.9) return 4;
  return rng.int(5, 12);
}

/**
 * One user's resets: trigger clicks (rate limited as the service does), the email's outcome,
 * then perhaps wrong or stale codes, a completed reset with its password change and notice.
 */
function planResets(rng: Rng, user: UserPlan, stream: string, end: number, out: Spec[]) {
  const userStream = `user-${user.id}`;
  const from = user.registeredAt + HOUR;
  const until = end - 2 * HOUR;
  if (until <= from) return;
  const starts = Array.from(
    { length: resetEpisodes(rng) },
    () => from + rng.next() * (until - from),
  )
    .sort((a, b) => a - b)
    .filter((t, i, all) => i === 0 || t - (all[i - 1] ?? 0) > 2 * HOUR);
  const attempts: number[] = [];
  let previous: RequestPlan | undefined;

  for (const start of starts) {
    const client = rng.chance(0.8) ? rng.pick(user.clients) : newClient(rng);
    const r = rng.next();
    const clicks = r < 0.75 ? 1 : r < 0.9 ? 2 : r < 0.96 ? 3 : rng.int(4, 7);
    const sent: RequestPlan[] = [];
    let t = start;
    let latest: RequestPlan | undefined;
    let latestAt = start;
    let latestSent = false;
    for (let c = 0; c < clicks; c++, t += rng.int(8, 90) * SECOND) {
      const httpId = randomUUID();
      const limited = emailLimited(attempts, t);
      if (limited) {
        out.push({
          t,
          kind: Kind.Rejected,
          user,
          stream,
          httpId,
          client,
          extra: {
            reason: "rate_limited",
            limit: limited.limit,
            retryAfterSeconds: Math.max(1, Math.ceil(limited.retryAfterMs / 1000)),
          },
        });
        continue;
      }
      attempts.push(t);
      if (previous) previous.status = previous.status === "active" ? "superseded" : previous.status;
      const request: RequestPlan = {
        requestId: randomUUID(),
        eventId: randomUUID(),
        httpId,
        client,
        status: "active",
      };
      previous = request;
      latest = request;
      latestAt = t;
      out.push({ t, kind: Kind.Requested, user, stream, httpId, client, request });
      const failed = rng.chance(0.03);
      latestSent = !failed;
      if (!failed) sent.push(request);
      out.push({
        t: t + rng.int(150, failed ? 9_700 : 2_500),
        kind: failed ? Kind.EmailFailed : Kind.EmailSent,
        user,
        stream,
        httpId,
        client,
        request,
        extra: failed
          ? rng.chance(0.5)
            ? { reason: "deadline", status: 503, attempts: rng.int(2, 4) }
            : { reason: "rejected", status: 400, attempts: 1 }
          : { attempts: rng.chance(0.98) ? 1 : 2 },
      });
    }
    if (!latest || !latestSent) continue;

    // What the user does with the email: the reset page sends the email with the code.
    let failures = 0;
    let at = latestAt + rng.int(20, 120) * SECOND;
    const reject = (reason: string, locked = false) => {
      failures++;
      out.push({
        t: at,
        kind: Kind.CodeRejected,
        user,
        stream,
        httpId: randomUUID(),
        client,
        request: latest,
        extra: { reason, failedAttempts: failures, ...(locked ? { locked: true } : {}) },
      });
      at += rng.int(10, 60) * SECOND;
    };
    const o = rng.next();
    if (o < 0.62) {
      if (sent.length > 1 && rng.chance(0.3)) reject("superseded");
      const wrong = rng.chance(0.8) ? 0 : rng.chance(0.75) ? 1 : 2;
      for (let w = 0; w < wrong; w++) reject("wrong_code");
      // At most three rejections came first (≤ 5 min), so this stays after them and in time.
      at = Math.min(at + rng.int(0, 240) * SECOND, latestAt + CODE_TTL_MS - 20 * SECOND);
      latest.status = "used";
      const httpId = randomUUID();
      const changeEventId = randomUUID();
      out.push({
        t: at,
        kind: Kind.Completed,
        user,
        stream,
        httpId,
        client,
        request: latest,
        withNext: true,
      });
      out.push({
        t: at,
        kind: Kind.PasswordChanged,
        user,
        stream: userStream,
        httpId,
        client,
        request: latest,
        extra: { changeEventId },
      });
      const noticeFailed = rng.chance(0.01);
      out.push({
        t: at + rng.int(200, 2_000),
        kind: noticeFailed ? Kind.NoticeFailed : Kind.NoticeSent,
        user,
        stream: userStream,
        httpId,
        client,
        extra: { changeEventId },
      });
      user.lastChangeAt = at;
      if (rng.chance(0.03)) {
        // The same link clicked again later: the code is used (no count against it).
        out.push({
          t: at + rng.int(1, 30) * MINUTE,
          kind: Kind.CodeRejected,
          user,
          stream,
          httpId: randomUUID(),
          client,
          request: latest,
          extra: { reason: "used" },
        });
      }
    } else if (o < 0.7) {
      at = latestAt + CODE_TTL_MS + rng.int(1, 50) * MINUTE;
      reject("expired");
    } else if (o < 0.71) {
      for (let w = 1; w <= 5; w++) reject("wrong_code", w === 5);
      latest.status = "locked";
    }
  }
}

interface Plan {
  users: UserPlan[];
  specs: Spec[];
}

function plan(
  keyring: Keyring,
  options: Required<Pick<SeedAuditOptions, "users" | "events" | "seed">>,
  start: number,
  end: number,
): Plan {
  const rng = prng(options.seed);
  const specs: Spec[] = [];
  const span = end - start;
  const users: UserPlan[] = [];
  for (let n = 0; n < options.users; n++) {
    const id = randomUUID();
    const email = auditEmail(n);
    const key = newDataKey();
    // Most accounts exist from early on; some join during the period.
    const registeredAt = start + rng.next() ** 1.5 * span * 0.8;
    const erasedAt = rng.chance(0.01)
      ? registeredAt + (0.3 + 0.6 * rng.next()) * (end - registeredAt)
      : undefined;
    const user: UserPlan = {
      n,
      id,
      email,
      key,
      sealedEmail: seal(key, id, email),
      registeredAt,
      erasedAt,
      lastChangeAt: undefined,
      clients: Array.from({ length: rng.int(1, 3) }, () => newClient(rng)),
      weight: Math.exp(rng.gauss()),
      events: 0,
    };
    users.push(user);
    const client = user.clients[0] as Client;
    specs.push({
      t: registeredAt,
      kind: Kind.Registered,
      user,
      stream: `user-${id}`,
      httpId: randomUUID(),
      client,
    });
    planResets(rng, user, resetStreamId(keyring, email), erasedAt ?? end, specs);
    if (erasedAt !== undefined) {
      specs.push({
        t: erasedAt,
        kind: Kind.Erased,
        user,
        stream: `user-${id}`,
        httpId: randomUUID(),
        client,
      });
    }
  }

  // Requests for addresses without an account (typos, guesses, a few persistent probers).
  const unknown = Math.round(options.users / 5);
  for (let k = 0; k < unknown; k++) {
    const n = rng.int(0, options.users - 1);
    const email =
      k % 3 === 0
        ? `${FIRST[k % FIRST.length]}${k}@${rng.pick(DOMAINS)}`
        : rng.chance(0.5)
          ? auditEmail(n).replace("@", "x@")
          : auditEmail(n).replace("example", "exmaple");
    const stream = resetStreamId(keyring, email);
    const client = newClient(rng);
    const count = k < 5 ? rng.int(100, 300) : 1 + Math.floor(-Math.log(1 - rng.next()) * 2);
    const attempts: number[] = [];
    let t = start + rng.next() * span * 0.9;
    for (let a = 0; a < count && t < end; a++) {
      const limited = emailLimited(attempts, t);
      if (!limited) attempts.push(t);
      specs.push({
        t,
        kind: Kind.Rejected,
        user: undefined,
        stream,
        httpId: randomUUID(),
        client,
        extra: limited
          ? {
              reason: "rate_limited",
              limit: limited.limit,
              retryAfterSeconds: Math.max(1, Math.ceil(limited.retryAfterMs / 1000)),
            }
          : { reason: "unknown_email" },
      });
      t += rng.chance(0.7) ? rng.int(5, 120) * SECOND : rng.int(1, 20 * 24) * HOUR;
    }
  }

  // Codes typed without an email that match no request: the client IP's attempts stream.
  const probers = Math.round(options.users / 30);
  for (let k = 0; k < probers; k++) {
    const client = newClient(rng);
    const ipHash = keyedHash(keyring, "ip", client.ip);
    const stream = `password-reset-attempts-${deterministicUuid(ipHash)}`;
    let t = start + rng.next() * span;
    for (let a = rng.int(1, 20); a > 0 && t < end; a--) {
      specs.push({
        t,
        kind: Kind.UnknownCode,
        user: undefined,
        stream,
        httpId: randomUUID(),
        client,
      });
      t += rng.int(3, 600) * SECOND;
    }
  }

  // Logins fill the rest, more for active users and for users with a longer history.
  const logins = options.events - specs.length;
  if (logins < options.users) throw new Error(`${options.events} events are too few`);
  const activeSpan = (u: UserPlan) => (u.erasedAt ?? end) - u.registeredAt;
  const total = users.reduce((sum, u) => sum + u.weight * activeSpan(u), 0);
  const counts = users.map((u) =>
    Math.max(1, Math.floor((logins * u.weight * activeSpan(u)) / total)),
  );
  let left = logins - counts.reduce((a, b) => a + b, 0);
  while (left > 0) {
    const i = rng.int(0, users.length - 1);
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  while (left < 0) {
    const i = rng.int(0, users.length - 1);
    if ((counts[i] ?? 0) > 1) {
      counts[i] = (counts[i] ?? 0) - 1;
      left++;
    }
  }
  for (const [i, user] of users.entries()) {
    const until = user.erasedAt ?? end;
    for (let l = 0; l < (counts[i] ?? 0); l++) {
      // The first login follows the registration; the others spread over the user's months.
      const t =
        l === 0
          ? user.registeredAt + rng.int(5, 300) * SECOND
          : user.registeredAt + rng.next() * (until - user.registeredAt - MINUTE);
      specs.push({
        t: Math.min(t, until - SECOND),
        kind: Kind.LoggedIn,
        user,
        stream: `user-${user.id}`,
        httpId: randomUUID(),
        client: rng.chance(0.9) ? rng.pick(user.clients) : newClient(rng),
      });
    }
  }
  // Stable: a completion and its password change (same instant) stay adjacent.
  specs.sort((a, b) => a.t - b.t);
  return { users, specs };
}

// --- writing ---------------------------------------------------------------------------------

const TYPE: Record<Kind, string> = {
  [Kind.Registered]: "UserRegistered",
  [Kind.LoggedIn]: "UserLoggedIn",
  [Kind.Requested]: "PasswordResetRequested",
  [Kind.EmailSent]: "PasswordResetEmailSent",
  [Kind.EmailFailed]: "PasswordResetEmailFailed",
  [Kind.Rejected]: "PasswordResetRejected",
  [Kind.CodeRejected]: "PasswordResetCodeRejected",
  [Kind.Completed]: "PasswordResetCompleted",
  [Kind.PasswordChanged]: "PasswordChanged",
  [Kind.NoticeSent]: "PasswordChangedNoticeSent",
  [Kind.NoticeFailed]: "PasswordChangedNoticeFailed",
  [Kind.Erased]: "PersonalDataErased",
  [Kind.UnknownCode]: "PasswordResetCodeRejected",
};

interface EventRow {
  e: string;
  s: string;
  v: number;
  t: string;
  d: Record<string, unknown>;
  m: Record<string, unknown>;
  r: string;
}

interface Writer {
  keyring: Keyring;
  /** The sweep's "now": sessions and codes it would delete are not written. */
  now: number;
  versions: Map<string, number>;
  hashes: { initial: string; changed: string };
  events: EventRow[];
  sessions: {
    token_hash: string;
    session_id: string;
    user_id: string;
    created_at: string;
    expires_at: string;
  }[];
  codes: {
    code_hash: string;
    request_id: string;
    stream_id: string;
    user_id: string;
    requested_at: string;
    expires_at: string;
    status: string;
  }[];
}

const messageId = (t: number) =>
  `<${new Date(t).toISOString().replace(/\D/g, "").slice(0, 14)}.${randomBytes(8).toString("hex")}@mg.example.com>`;

/** The event as the service would have appended it, plus the projection rows it implies. */
function materialise(w: Writer, spec: Spec): void {
  const { user, client } = spec;
  const at = new Date(spec.t);
  const iso = at.toISOString();
  const id = user?.id ?? "";
  const key = user?.key ?? Buffer.alloc(32);
  const sealFor = (value: string) => seal(key, id, value);
  const ipHash = () => keyedHash(w.keyring, "ip", client.ip);
  const request = spec.request;
  let eventId: string = randomUUID();
  let data: Record<string, unknown>;
  let metadata: Record<string, unknown> = { requestId: spec.httpId, correlationId: spec.httpId };

  switch (spec.kind) {
    case Kind.Registered:
      data = {
        userId: id,
        sealedEmail: user?.sealedEmail,
        sealedPasswordHash: sealFor(w.hashes.initial),
      };
      break;
    case Kind.LoggedIn: {
      const sessionId = randomUUID();
      const expiresAt = new Date(spec.t + SESSION_TTL_MS).toISOString();
      data = {
        userId: id,
        sessionId,
        expiresAt,
        sealedIp: sealFor(client.ip),
        sealedUserAgent: sealFor(client.ua),
      };
      // PasswordChanged and PersonalDataErased delete the user's sessions, the sweep the expired.
      const live = user && user.erasedAt === undefined && spec.t > (user.lastChangeAt ?? 0);
      if (live && spec.t + SESSION_TTL_MS > w.now) {
        w.sessions.push({
          token_hash: keyedHash(w.keyring, "session", randomBytes(32).toString("base64url")),
          session_id: sessionId,
          user_id: id,
          created_at: iso,
          expires_at: expiresAt,
        });
      }
      break;
    }
    case Kind.Requested: {
      if (!request || !user) throw new Error("a request needs its user");
      const code = generateResetCode();
      const codeHash = keyedHash(w.keyring, "reset-code", code);
      const expiresAt = new Date(spec.t + CODE_TTL_MS).toISOString();
      eventId = request.eventId;
      metadata = { requestId: spec.httpId, correlationId: request.requestId };
      data = {
        requestId: request.requestId,
        userId: id,
        codeHash,
        sealedCode: sealFor(code),
        sealedEmail: user.sealedEmail,
        sealedIp: sealFor(client.ip),
        sealedUserAgent: sealFor(client.ua),
        expiresAt,
        dispatchDeadline: new Date(spec.t + DISPATCH_WINDOW_MS).toISOString(),
      };
      // The sweep drops codes a day past their expiry.
      if (spec.t + CODE_TTL_MS > w.now - DAY)
        w.codes.push({
          code_hash: codeHash,
          request_id: request.requestId,
          stream_id: spec.stream,
          user_id: id,
          requested_at: iso,
          expires_at: expiresAt,
          status: request.status,
        });
      break;
    }
    case Kind.EmailSent:
    case Kind.EmailFailed: {
      if (!request) throw new Error("an outcome needs its request");
      eventId = outcomeEventId(request.requestId);
      metadata = {
        requestId: request.httpId,
        correlationId: request.requestId,
        causationId: request.eventId,
      };
      data =
        spec.kind === Kind.EmailSent
          ? {
              requestId: request.requestId,
              provider: "mailgun",
              providerMessageId: messageId(spec.t),
              ...spec.extra,
            }
          : { requestId: request.requestId, ...spec.extra };
      break;
    }
    case Kind.Rejected:
      metadata = { requestId: spec.httpId, correlationId: randomUUID() };
      data = { requestId: metadata.correlationId, ...spec.extra, ipHash: ipHash() };
      break;
    case Kind.CodeRejected: {
      const counted = spec.extra?.failedAttempts !== undefined;
      data = {
        ...(request ? { requestId: request.requestId } : {}),
        reason: spec.extra?.reason,
        ...(counted ? { failedAttempts: spec.extra?.failedAttempts } : {}),
        ...(spec.extra?.locked ? { locked: true } : {}),
        ipHash: ipHash(),
      };
      break;
    }
    case Kind.UnknownCode:
      data = { reason: "unknown_code", ipHash: ipHash() };
      break;
    case Kind.Completed:
      if (!request) throw new Error("a completion needs its request");
      data = {
        requestId: request.requestId,
        userId: id,
        sealedIp: sealFor(client.ip),
        sealedUserAgent: sealFor(client.ua),
      };
      break;
    case Kind.PasswordChanged:
      if (!request) throw new Error("a password change needs its request");
      eventId = spec.extra?.changeEventId as string;
      data = {
        userId: id,
        sealedPasswordHash: sealFor(w.hashes.changed),
        reason: "reset",
        requestId: request.requestId,
      };
      break;
    case Kind.NoticeSent:
    case Kind.NoticeFailed: {
      const changeEventId = spec.extra?.changeEventId as string;
      eventId = deterministicUuid(`password-changed-notice:${changeEventId}`);
      metadata = { requestId: spec.httpId, correlationId: spec.httpId, causationId: changeEventId };
      data =
        spec.kind === Kind.NoticeSent
          ? {
              changeEventId,
              provider: "mailgun",
              providerMessageId: messageId(spec.t),
              attempts: 1,
            }
          : { changeEventId, reason: "deadline", status: 503, attempts: 3 };
      break;
    }
    case Kind.Erased:
      metadata = { requestId: spec.httpId, correlationId: spec.httpId };
      data = { userId: id };
      break;
  }
  const version = (w.versions.get(spec.stream) ?? 0) + 1;
  w.versions.set(spec.stream, version);
  if (user) user.events++;
  w.events.push({
    e: eventId,
    s: spec.stream,
    v: version,
    t: TYPE[spec.kind],
    d: data,
    m: metadata,
    r: iso,
  });
}

const INSERT_BATCH = `
  with ev as (
    insert into events (event_id, stream_id, stream_version, type, data, metadata, recorded_at)
    select e, s, v, t, d, m, r
    from rows from (json_to_recordset($1::json)
      as (e uuid, s text, v int, t text, d jsonb, m jsonb, r timestamptz)) with ordinality
      as x(e, s, v, t, d, m, r, ord)
    order by ord
    returning 1
  ), se as (
    insert into sessions (token_hash, session_id, user_id, created_at, expires_at)
    select * from json_to_recordset($2::json)
      as x(token_hash text, session_id uuid, user_id uuid, created_at timestamptz, expires_at timestamptz)
    returning 1
  ), rc as (
    insert into reset_codes (code_hash, request_id, stream_id, user_id, requested_at, expires_at, status)
    select * from json_to_recordset($3::json)
      as x(code_hash text, request_id uuid, stream_id text, user_id uuid, requested_at timestamptz,
           expires_at timestamptz, status text)
    returning 1
  )
  select (select count(*) from ev) as events`;

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

    // Data keys first (created_at: the registration), so every seal below has its key stored.
    for (let i = 0; i < people.length; i += 2000) {
      const rows = people
        .slice(i, i + 2000)
        .filter((u) => u.erasedAt === undefined)
        .map((u) => ({
          subject_id: u.id,
          wrapped_key: `\\x${wrapDataKey(core.keyring, u.id, u.key).toString("hex")}`,
          created_at: new Date(u.registeredAt).toISOString(),
        }));
      await client.query(
        `insert into data_keys (subject_id, wrapped_key, created_at)
         select subject_id, wrapped_key::bytea, created_at from json_to_recordset($1::json)
           as x(subject_id uuid, wrapped_key text, created_at timestamptz)`,
        [JSON.stringify(rows)],
      );
    }

    const writer: Writer = {
      keyring: core.keyring,
      now: Date.now(),
      versions: new Map(),
      hashes: { initial, changed },
      events: [],
      sessions: [],
      codes: [],
    };
    let pending: Promise<unknown> = Promise.resolve();
    let written = 0;
    let reported = 0;
    const flush = async () => {
      const payload = [
        JSON.stringify(writer.events),
        JSON.stringify(writer.sessions),
        JSON.stringify(writer.codes),
      ];
      const count = writer.events.length;
      writer.events = [];
      writer.sessions = [];
      writer.codes = [];
      await pending;
      pending = client.query(INSERT_BATCH, payload);
      written += count;
      if (written - reported >= 50_000 || written === specs.length) {
        reported = written;
        const rate = Math.round(written / Number(elapsed()));
        progress(
          `seed-audit: ${written.toLocaleString("en")}/${specs.length.toLocaleString("en")} events (${elapsed()} s, ${rate.toLocaleString("en")}/s)`,
        );
      }
    };
    for (const spec of specs) {
      materialise(writer, spec);
      if (writer.events.length >= batchSize && !spec.withNext) await flush();
    }
    if (writer.events.length > 0) await flush();
    await pending;

    // The users read model as the users projection leaves it after these events.
    const live = people.filter((u) => u.erasedAt === undefined);
    for (let i = 0; i < live.length; i += 2000) {
      const rows = live.slice(i, i + 2000).map((u) => ({
        id: u.id,
        sealed_email: u.sealedEmail,
        email_lookup: emailLookup(core.keyring, u.email),
        password_hash: u.lastChangeAt === undefined ? initial : changed,
        created_at: new Date(u.registeredAt).toISOString(),
        password_changed_at:
          u.lastChangeAt === undefined ? null : new Date(u.lastChangeAt).toISOString(),
      }));
      await client.query(
        `insert into users (id, sealed_email, email_lookup, password_hash, created_at, password_changed_at)
         select * from json_to_recordset($1::json) as x(id uuid, sealed_email text,
           email_lookup text, password_hash text, created_at timestamptz, password_changed_at timestamptz)`,
        [JSON.stringify(rows)],
      );
    }
    // The mailers handled every seeded event: their checkpoints sit after the last one.
    await client.query(
      `insert into subscriptions (name, last_transaction_id, last_position)
       select name, e.transaction_id, e.global_position
       from unnest(array['reset-mailer', 'password-changed-mailer']) as name,
            (select transaction_id, global_position from events
             order by transaction_id desc, global_position desc limit 1) e
       on conflict (name) do update
         set last_transaction_id = excluded.last_transaction_id,
             last_position = excluded.last_position`,
    );

    // The server sweeps expired read-model rows every 10 minutes: leave what a sweep leaves.
    await sweepExpired(core.db);
    await verify(client, core, live, target);
    const byType: Record<string, number> = {};
    const { rows: types } = await client.query<{ type: string; n: string }>(
      "select type, count(*) as n from events group by type order by 2 desc",
    );
    for (const row of types) byType[row.type] = Number(row.n);
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

/** Cheap checks that the seed holds the invariants the services rely on. */
async function verify(
  client: pg.Client,
  core: Awaited<ReturnType<typeof openCore>>,
  live: UserPlan[],
  target: number,
): Promise<void> {
  const one = async (query: string) => Number((await client.query(query)).rows[0]?.n);
  const count = await one("select count(*) as n from events");
  if (count !== target) throw new Error(`seeded ${count} events, expected ${target}`);
  const gaps = await one(`select count(*) as n from (select stream_id from events group by stream_id
                          having max(stream_version) <> count(*)) g`);
  if (gaps !== 0) throw new Error(`${gaps} streams have gaps in their versions`);
  const active = await one(
    "select count(*) as n from (select user_id from reset_codes where status = 'active' group by user_id having count(*) > 1) x",
  );
  if (active !== 0) throw new Error(`${active} users have more than one active code`);
  // A sample read back through the service's own DataKeys and the users row.
  core.dataKeys.forgetAll();
  for (const user of live.filter((_, i) => i % Math.ceil(live.length / 50) === 0)) {
    const row = await core.db
      .selectFrom("users")
      .selectAll()
      .where("email_lookup", "=", emailLookup(core.keyring, user.email))
      .executeTakeFirst();
    const email = row && (await core.dataKeys.unseal(row.id, row.sealed_email));
    if (row?.id !== user.id || email !== user.email) {
      throw new Error(`user ${user.n} does not read back`);
    }
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
