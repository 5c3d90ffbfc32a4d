/**
 * Least privilege (README: Running with least privilege): the server runs as a login role in `reset_ledger_service`,
 * created by the migrations; as that role the whole service works, and the log cannot be
 * rewritten: no UPDATE, DELETE or TRUNCATE on events, no replica mode, no disabled trigger.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import pg from "pg";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import type { AppContext } from "../../src/context";
import { type Database, openDatabase } from "../../src/db";
import {
  createRoleIfMissing,
  SERVICE_ROLE,
} from "../../src/db/migrations/0009-privacy-and-least-privilege";
import { createLogger } from "../../src/log";
import { createRuntime } from "../../src/runtime";
import { waitForAuditHorizon } from "../support/audit";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/database";
import {
  codeOf,
  createDeployment,
  expectAnswer,
  messagesTo,
  register,
  SENT_BODY,
  trigger,
  uniqueEmail,
} from "../support/e2e";
import { type FakeMailgun, mailgunEnv, startFakeMailgun } from "../support/fake-mailgun";
import { appClient } from "../support/http";
import { testSecret } from "../support/runtime";
import { waitFor } from "../support/wait";

const NEEDS =
  "needs PostgreSQL (TEST_DATABASE_URL): a second login role; PGlite has one superuser session";
const pgOnly = describe.skipIf(!onPostgres);

const LOGIN = `rl_app_${randomBytes(5).toString("hex")}`;
const PASSWORD = randomBytes(12).toString("hex");
const TOKEN = `audit-${randomBytes(16).toString("hex")}`;

let testDb: TestDatabase;
let fake: FakeMailgun;
let asService: Database;
let runtime: AppContext;
let owner: pg.Client;
let service: pg.Client;

function asLogin(url: string): string {
  const parsed = new URL(url);
  parsed.username = LOGIN;
  parsed.password = PASSWORD;
  return parsed.toString();
}

pgOnly(`the server's role (${NEEDS})`, () => {
  beforeAll(async () => {
    // Migrations run as the owner, exactly as the README says; the server then logs in as LOGIN.
    testDb = await createTestDatabase();
    const url = testDb.url as string;
    owner = new pg.Client({ connectionString: url });
    await owner.connect();
    await owner.query(`create role ${LOGIN} login password '${PASSWORD}' in role ${SERVICE_ROLE}`);
    fake = await startFakeMailgun();
    asService = await openDatabase({ databaseUrl: asLogin(url), poolSize: 5 });
    const config = loadConfig({
      SECRET_KEY: testSecret(),
      DATABASE_URL: asLogin(url),
      AUDIT_TOKEN: TOKEN,
      ...mailgunEnv(fake),
    });
    runtime = await createRuntime(config, { database: asService, log: createLogger(() => {}) });
    await runtime.start();
    service = new pg.Client({ connectionString: asLogin(url) });
    await service.connect();
  });

  afterAll(async () => {
    await service?.end().catch(() => {});
    await runtime?.stop().catch(() => {});
    await owner?.end().catch(() => {});
    await fake?.stop();
    await testDb?.drop();
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`drop role if exists ${LOGIN}`);
    await admin.end();
  });

  test("as that role the service works: register, trigger, reset, audit, erase", async () => {
    const { rows } = await service.query<{ user: string; su: boolean }>(
      "select current_user as user, (select rolsuper from pg_roles where rolname = current_user) as su",
    );
    expect(rows[0]).toEqual({ user: LOGIN, su: false });

    const send = appClient(createApp(runtime));
    const email = "least.privilege@example.com";
    const password = "Least-Privil3ge!";
    const registered = await send("POST", "/v1/auth/register", { email, password });
    expect(registered.status).toBe(201);
    const userId = (registered.json as { user: { id: string } }).user.id;
    const loggedIn = await send("POST", "/v1/auth/login", { email, password });
    expect(loggedIn.status).toBe(200);
    const { token, device_token } = loggedIn.json as { token: string; device_token: string };
    const session = { authorization: `Bearer ${token}` };
    expect((await send("GET", "/v1/auth/sessions", undefined, session)).status).toBe(200);
    const again = await send("POST", "/v1/auth/login", { email, password, device_token });
    expect(again.status).toBe(200);
    expect((await send("POST", "/v1/auth/logout", undefined, session)).status).toBe(204);
    const triggered = await send("POST", "/v1/auth/password-reset/trigger", { email });
    expect(triggered.status).toBe(200);
    const [message] = messagesTo(fake, email);
    if (!message) throw new Error("no reset email");
    const reset = await send("POST", "/v1/auth/password-reset/reset", {
      code: codeOf(message),
      new_password: "An0ther-Passw0rd!",
    });
    expect(reset.status).toBe(200);
    await waitFor(() => messagesTo(fake, email).length >= 2, { what: "the changed notice" });

    await waitFor(
      async () =>
        Number(
          (
            await service.query<{ n: number }>(
              `select count(*)::int as n from events where type = 'PasswordChangedNoticeSent'`,
            )
          ).rows[0]?.n,
        ) > 0,
      { what: "the notice's outcome" },
    );
    await waitForAuditHorizon(asService.db);
    const auth = { authorization: `Bearer ${TOKEN}` };
    const audit = await send("GET", `/v1/audit/events?user_id=${userId}`, undefined, auth);
    expect(audit.status).toBe(200);
    expect((audit.json as { events: unknown[] }).events.length).toBeGreaterThanOrEqual(6);
    const erased = await send("DELETE", `/v1/audit/users/${userId}/personal-data`, undefined, auth);
    expect(erased.status).toBe(204);
  });

  test("the server process as that role (npm start after the owner migrated): triggers answer 200", async () => {
    const deployment = await createDeployment();
    try {
      const server = await deployment.start({
        DATABASE_URL: asLogin(deployment.databaseUrl as string),
      });
      const email = uniqueEmail("least-privilege-e2e");
      await register(server.url, email);
      expectAnswer(await trigger(server.url, email), 200, SENT_BODY);
      expect(messagesTo(deployment.fake, email)).toHaveLength(1);
      expect(server.output()).not.toMatch(/permission denied|insufficient_privilege/i);
      const database = new URL(deployment.databaseUrl as string).pathname.slice(1);
      const { rows } = await owner.query<{ usename: string }>(
        "select distinct usename from pg_stat_activity where datname = $1",
        [database],
      );
      expect(rows.map((r) => r.usename)).toContain(LOGIN);
    } finally {
      await deployment.close();
    }
  });

  const refusals: [string, string][] = [
    ["UPDATE", "update events set type = type"],
    ["DELETE", "delete from events"],
    ["TRUNCATE", "truncate events"],
    ["replica mode", "set session_replication_role = replica"],
    ["replica mode, local", "begin; set local session_replication_role = replica"],
    ["disabling the trigger", "alter table events disable trigger events_no_update_or_delete"],
    ["disabling every trigger", "alter table events disable trigger all"],
    ["dropping the trigger", "drop trigger events_no_update_or_delete on events"],
    ["dropping the table", "drop table events"],
  ];
  for (const [what, statement] of refusals) {
    test(`as that role: ${what} is refused by the database`, async () => {
      const { rows } = await service.query<{ n: number }>("select count(*)::int as n from events");
      expect(rows[0]?.n ?? 0).toBeGreaterThan(0);
      const error = await service.query(statement).then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
      await service.query("rollback").catch(() => {});
      expect({ what, code: error?.code }).toEqual({ what, code: "42501" });
      const after = await service.query<{ n: number }>("select count(*)::int as n from events");
      expect(after.rows[0]?.n).toBe(rows[0]?.n);
    });
  }

  test("as that role the read models stay writable and appending still works", async () => {
    const inserted = await service.query(
      `insert into events (event_id, stream_id, stream_version, type, data)
       values (gen_random_uuid(), 'least-privilege-probe', 1, 'Probe', '{}') returning global_position`,
    );
    expect(inserted.rowCount).toBe(1);
    await service.query("delete from rate_limits where key = 'none'");
  });

  test("the owner, by contrast, could rewrite the log in replica mode (rolled back): the role is what stops it", async () => {
    await owner.query("begin");
    await owner.query("set local session_replication_role = replica");
    const deleted = await owner.query("delete from events");
    await owner.query("rollback");
    expect(deleted.rowCount ?? 0).toBeGreaterThan(0);
  });

  test("creating the role is safe when concurrent migrations race for it", async () => {
    const name = `rl_race_${randomBytes(5).toString("hex")}`;
    const racers = 5;
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      const runs = Array.from({ length: racers }, () =>
        testDb.database.db.transaction().execute(async (trx) => {
          await createRoleIfMissing(trx, name);
          await released;
        }),
      );
      // One transaction holds the new role uncommitted; the others wait for it on the catalog.
      await waitFor(
        async () => {
          const { rows } = await sql<{ n: number }>`
            select count(*)::int as n from pg_stat_activity
            where wait_event_type = 'Lock' and query like ${`%create role ${name}%`}`.execute(
            testDb.database.db,
          );
          return (rows[0]?.n ?? 0) >= racers - 1;
        },
        { what: "the racing creations to wait on each other" },
      );
      release();
      const settled = await Promise.allSettled(runs);
      expect(settled.map((s) => s.status)).toEqual(Array(racers).fill("fulfilled"));
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_roles where rolname = ${name}`.execute(
        testDb.database.db,
      );
      expect(rows[0]?.n).toBe(1);
    } finally {
      release();
      await sql.raw(`drop role if exists ${name}`).execute(testDb.database.db);
    }
  });
});
