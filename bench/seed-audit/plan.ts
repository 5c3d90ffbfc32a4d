/**
 * The simulated shape of the audit seed: who registers when, logs in, asks for resets (clicks
 * rate limited as the service does), uses, mistypes or lets codes expire, is erased; addresses
 * of no account and code probers. Seeded, so two seedings have the same shape; ids and keys are
 * random. Nothing here is sealed or written: each event is a Spec, materialised in time order.
 */
import { randomUUID } from "node:crypto";
import { deterministicUuid } from "../../src/event-store";
import { emailLimit, HISTORY_WINDOW_MS } from "../../src/password-reset/decider";
import { resetStreamId } from "../../src/password-reset/streams";
import { type Keyring, keyedHash, seal } from "../../src/privacy";
import { newDataKey } from "../../src/privacy/crypto";
import { mulberry32 } from "../../test/support/random";

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const SESSION_TTL_MS = DAY;
export const CODE_TTL_MS = 600 * SECOND;
export const DISPATCH_WINDOW_MS = 10_000 - 250;

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

/** The shape's random choices, from one seed. */
function prng(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    gauss: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}
type Rng = ReturnType<typeof prng>;

export enum Kind {
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

export interface Client {
  ip: string;
  ua: string;
}

export interface UserPlan {
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

export interface RequestPlan {
  requestId: string;
  eventId: string;
  httpId: string;
  client: Client;
  status: "active" | "superseded" | "used" | "locked";
}

/** One event to write; the sealing happens when it is written, in time order. */
export interface Spec {
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
    const codeRejected = (t: number, extra: Record<string, unknown>) =>
      out.push({
        t,
        kind: Kind.CodeRejected,
        user,
        stream,
        httpId: randomUUID(),
        client,
        request: latest,
        extra,
      });
    const reject = (reason: string, locked = false) => {
      failures++;
      codeRejected(at, { reason, failedAttempts: failures, ...(locked ? { locked: true } : {}) });
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
        codeRejected(at + rng.int(1, 30) * MINUTE, { reason: "used" });
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

export interface Plan {
  users: UserPlan[];
  specs: Spec[];
}

export function plan(
  keyring: Keyring,
  options: { users: number; events: number; seed: number },
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
