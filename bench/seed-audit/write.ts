/**
 * Writing the audit seed: each planned event materialised as the service would have appended it
 * (sealed under the user's real data key, stream versions gap-free, outcome events with their
 * deterministic ids) plus the read-model rows the inline projections would leave, in batches of
 * one INSERT … SELECT FROM json_to_recordset per table in one statement.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type pg from "pg";
import { outcomeEventId } from "../../projections/emails/reset-mailer";
import { deterministicUuid } from "../../src/event-store";
import { generateResetCode } from "../../src/password-reset/code";
import { emailLookup, type Keyring, keyedHash, seal } from "../../src/privacy";
import { wrapDataKey } from "../../src/privacy/crypto";
import {
  CODE_TTL_MS,
  DAY,
  DISPATCH_WINDOW_MS,
  Kind,
  SESSION_TTL_MS,
  type Spec,
  type UserPlan,
} from "./plan";

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

export interface Writer {
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

/** Data keys first (created_at: the registration), so every seal written later has its key stored. */
export async function writeDataKeys(
  client: pg.Client,
  keyring: Keyring,
  people: readonly UserPlan[],
): Promise<void> {
  for (let i = 0; i < people.length; i += 2000) {
    const rows = people
      .slice(i, i + 2000)
      .filter((u) => u.erasedAt === undefined)
      .map((u) => ({
        subject_id: u.id,
        wrapped_key: `\\x${wrapDataKey(keyring, u.id, u.key).toString("hex")}`,
        created_at: new Date(u.registeredAt).toISOString(),
      }));
    await client.query(
      `insert into data_keys (subject_id, wrapped_key, created_at)
       select subject_id, wrapped_key::bytea, created_at from json_to_recordset($1::json)
         as x(subject_id uuid, wrapped_key text, created_at timestamptz)`,
      [JSON.stringify(rows)],
    );
  }
}

/**
 * The events in time order, `batchSize` at a time (a completion stays with its password change);
 * the next batch is built (sealing is the CPU cost) while PostgreSQL writes the current one.
 * Calls `progress` every 50,000 events and at the end; returns how many were written.
 */
export async function writeEvents(
  client: pg.Client,
  writer: Writer,
  specs: readonly Spec[],
  batchSize: number,
  progress: (written: number) => void,
): Promise<number> {
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
      progress(written);
    }
  };
  for (const spec of specs) {
    materialise(writer, spec);
    if (writer.events.length >= batchSize && !spec.withNext) await flush();
  }
  if (writer.events.length > 0) await flush();
  await pending;
  return written;
}

/** The users read model as the users projection leaves it after the seeded events. */
export async function writeUsers(
  client: pg.Client,
  keyring: Keyring,
  live: readonly UserPlan[],
  hashes: Writer["hashes"],
): Promise<void> {
  for (let i = 0; i < live.length; i += 2000) {
    const rows = live.slice(i, i + 2000).map((u) => ({
      id: u.id,
      sealed_email: u.sealedEmail,
      email_lookup: emailLookup(keyring, u.email),
      password_hash: u.lastChangeAt === undefined ? hashes.initial : hashes.changed,
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
}

/** The mailers handled every seeded event: their checkpoints sit after the last one. */
export async function checkpointMailers(client: pg.Client): Promise<void> {
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
}
