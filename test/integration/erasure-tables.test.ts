/**
 * Erasure reaches every table that holds a user's rows (README: Auditing). The tables are
 * found in the schema, by the columns that can name a user, an address's lookup, a device or a
 * request (a limit's key embeds one of them), so a new table holding such a column fails this
 * test until erasure forgets its rows or the table is listed as kept, with the reason. Real
 * flows put the user's rows in each table; after the erasure none is left, and another user's
 * rows are untouched.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { type RawBuilder, sql } from "kysely";
import { emailLookup } from "../../src/privacy";
import { auditApi } from "../support/audit";
import { freshIp, uniqueEmail } from "../support/random";
import { useRuntime } from "../support/runtime";

const TOKEN = `audit-${randomBytes(16).toString("hex")}`;
const password = "Erase-Tables-Passw0rd!";

/** Columns that can name a user, an address, a device or a request, or embed one (limit keys). */
const DISCOVER = sql<{ table_name: string }>`
  select distinct table_name from information_schema.columns
  where table_schema = current_schema()
    and (column_name ~ '(^|_)(user|account|subject|email|lookup|device|request|stream)(_|$)'
         or column_name = 'key'
         or (table_name = 'users' and column_name = 'id'))
  order by table_name`;

/** What names one user's rows: the user, the address's lookup, devices, requests, old stream. */
interface Subject {
  userId: string;
  lookup: string;
  deviceIds: string[];
  requestIds: string[];
  stream: string;
}

type Count = RawBuilder<{ n: number }>;
/** A limit's key is `<limit>:<user id, email lookup or device id>`. */
const namesSubject = (s: Subject) =>
  sql`exists (select from unnest(${[s.userId, s.lookup, ...s.deviceIds]}::text[]) x
              where strpos(key, x) > 0)`;

/** The tables erasure empties of the user's rows, each with how to count them. */
const FORGOTTEN: Record<string, (s: Subject) => Count> = {
  users: (s) =>
    sql`select count(*)::int as n from users where id = ${s.userId} or email_lookup = ${s.lookup}`,
  data_keys: (s) => sql`select count(*)::int as n from data_keys where subject_id = ${s.userId}`,
  sessions: (s) => sql`select count(*)::int as n from sessions where user_id = ${s.userId}`,
  device_tokens: (s) =>
    sql`select count(*)::int as n from device_tokens where user_id = ${s.userId}`,
  reset_codes: (s) => sql`select count(*)::int as n from reset_codes where user_id = ${s.userId}`,
  reset_code_keys: (s) =>
    sql`select count(*)::int as n from reset_code_keys
        where request_id = any(${s.requestIds}::uuid[])`,
  // The address stays mapped, to a fresh stream: the mapping to the erased history goes.
  reset_streams: (s) =>
    sql`select count(*)::int as n from reset_streams
        where email_lookup = ${s.lookup} and stream_id = ${s.stream}`,
  rate_windows: (s) => sql`select count(*)::int as n from rate_windows where ${namesSubject(s)}`,
  rate_limits: (s) => sql`select count(*)::int as n from rate_limits where ${namesSubject(s)}`,
};

/** Tables with such a column that erasure leaves as they are, and why. */
const KEPT: Record<string, string> = {
  events: "the log: erasure destroys the key its personal data is sealed under, never its rows",
  sent_messages:
    "a provider's message id → the stream and request it was sent for, so a delivery report finds its event; no address",
  refusal_tallies:
    "refusals counted per reset stream until written to that stream's log; the address no longer maps to it",
  mail_send_marks: "ids of emails about to be sent (at most once); no user, no address",
};

// No mailer running, and a trigger that answers before its email (conceal): the request
// keeps waiting for its email, so its code key stays.
const t = useRuntime(
  { AUDIT_TOKEN: TOKEN, TRUST_PROXY: "true", RESET_UNKNOWN_EMAIL: "conceal" },
  { start: false },
);
let api: ReturnType<typeof auditApi>;
beforeAll(() => {
  api = auditApi(t.request, TOKEN, []);
});

const post = (path: string, body: unknown) =>
  t.request("POST", path, body, { "x-forwarded-for": freshIp() });

const count = async (query: Count) => (await query.execute(t.runtime.db)).rows[0]?.n ?? 0;

/** Puts a user's rows in every table through the service, and returns what names them. */
async function userWithRows(tag: string): Promise<Subject> {
  const email = uniqueEmail(tag);
  const registered = await post("/v1/auth/register", { email, password });
  expect(registered.status).toBe(201);
  const userId = (registered.json as { user: { id: string } }).user.id;
  // A session and a device token.
  const login = await post("/v1/auth/login", { email, password });
  expect(login.status).toBe(200);
  const deviceToken = (login.json as { device_token: string }).device_token;
  // Failed logins: the account's window (by the email's lookup) and the device's own.
  expect((await post("/v1/auth/login", { email, password: "Wr0ng-Passw0rd!" })).status).toBe(401);
  const onDevice = { email, password: "Wr0ng-Passw0rd!", device_token: deviceToken };
  expect((await post("/v1/auth/login", onDevice)).status).toBe(401);
  // A reset code, and its key while the request waits for its email.
  expect((await post("/v1/auth/password-reset/trigger", { email })).status).toBe(200);
  const lookup = emailLookup(t.runtime.keyring, email);
  // No flow writes rate_limits any more; rows an earlier version left, keyed alike, still go.
  await sql`insert into rate_limits (key, tat) values
    (${`per-user:${userId}`}, now() + interval '1 hour'),
    (${`per-account:${lookup}`}, now() + interval '1 hour')`.execute(t.runtime.db);

  const db = t.runtime.db;
  const devices = await db
    .selectFrom("device_tokens")
    .select("device_id")
    .where("user_id", "=", userId)
    .execute();
  const requests = await sql<{ id: string }>`
    select data->>'requestId' as id from events
    where type = 'PasswordResetRequested' and data->>'userId' = ${userId}`.execute(db);
  const mapping = await db
    .selectFrom("reset_streams")
    .select("stream_id")
    .where("email_lookup", "=", lookup)
    .executeTakeFirstOrThrow();
  return {
    userId,
    lookup,
    deviceIds: devices.map((d) => d.device_id),
    requestIds: requests.rows.map((r) => r.id),
    stream: mapping.stream_id,
  };
}

const countsOf = async (subject: Subject) =>
  Object.fromEntries(
    await Promise.all(
      Object.entries(FORGOTTEN).map(async ([table, rows]) => [table, await count(rows(subject))]),
    ),
  ) as Record<string, number>;

describe("erasure, table by table", () => {
  test("every table that can hold a user's rows is either forgotten by erasure or kept for a reason", async () => {
    const { rows } = await DISCOVER.execute(t.runtime.db);
    const listed = [...Object.keys(FORGOTTEN), ...Object.keys(KEPT)].sort();
    expect(rows.map((r) => r.table_name).sort()).toEqual(listed);
  });

  test("before: the user has rows in each; after: none is left, and the other user keeps theirs", async () => {
    const erased = await userWithRows("erased");
    const other = await userWithRows("kept");
    const before = await countsOf(erased);
    const otherBefore = await countsOf(other);
    for (const [table, n] of Object.entries(before)) {
      expect({ table, rows: n > 0 }).toEqual({ table, rows: true });
    }
    for (const [table, n] of Object.entries(otherBefore)) {
      expect({ table, rows: n > 0 }).toEqual({ table, rows: true });
    }

    expect((await api.erase(erased.userId)).status).toBe(204);

    const none = Object.fromEntries(Object.keys(FORGOTTEN).map((table) => [table, 0]));
    expect(await countsOf(erased)).toEqual(none);
    expect(await countsOf(other)).toEqual(otherBefore);
    // The address itself still has a stream for its next account's requests: a new one.
    const mapped = await t.runtime.db
      .selectFrom("reset_streams")
      .select("stream_id")
      .where("email_lookup", "=", erased.lookup)
      .executeTakeFirst();
    expect(mapped?.stream_id).toEqual(expect.any(String));
    expect(mapped?.stream_id).not.toBe(erased.stream);
  });
});
