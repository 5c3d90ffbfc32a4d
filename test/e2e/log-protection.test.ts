/**
 * Saying when the log is unprotected (README: Running with least privilege): in production on
 * PostgreSQL, a server whose database role could rewrite `events` (its owner here) logs one
 * warning naming the README's section and /v1/health says "unprotected"; as a login role in
 * `reset_ledger_service` it is "protected" and says nothing. The embedded database is never
 * protected, and says so in health only.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { SERVICE_ROLE } from "../../src/db/migrations/0009-privacy-and-least-privilege";
import { onPostgres, TEST_DATABASE_URL } from "../support/database";
import { createDeployment, useDeployment } from "../support/e2e";
import { logLines, type ServerProcess } from "../support/server";

const NEEDS = "needs PostgreSQL (TEST_DATABASE_URL): a second login role";
const LOGIN = `rl_app_${randomBytes(5).toString("hex")}`;
const PASSWORD = randomBytes(12).toString("hex");
const SECTION = '"Running with least privilege"';

function asLogin(url: string): string {
  const parsed = new URL(url);
  parsed.username = LOGIN;
  parsed.password = PASSWORD;
  return parsed.toString();
}

const warnings = (server: ServerProcess) =>
  logLines(server.output()).filter(
    (l) => l.level === "warn" && String(l.msg).includes("event log unprotected"),
  );

async function health(server: ServerProcess): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}/v1/health`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe.skipIf(!onPostgres)(`the server's database role in production (${NEEDS})`, () => {
  const deployment = useDeployment({ NODE_ENV: "production" });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`drop role if exists ${LOGIN}`);
    await admin.end();
  });

  test("as the owner of events: one warning naming the least-privilege section, health says unprotected", async () => {
    const server = await deployment.start();
    try {
      const lines = warnings(server);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.msg).toContain(SECTION);
      expect(lines[0]?.can).toEqual(expect.arrayContaining(["superuser", "owner of events"]));
      // The warning comes before the server says it is listening: an operator sees it at start.
      const msgs = logLines(server.output()).map((l) => l.msg);
      expect(msgs.indexOf(lines[0]?.msg)).toBeLessThan(msgs.indexOf("listening"));
      expect(await health(server)).toMatchObject({
        status: "ok",
        database: "postgres",
        log_protection: "unprotected",
      });
    } finally {
      await server.stop();
    }
  });

  test("as a login role in reset_ledger_service: protected, no warning", async () => {
    const url = deployment.databaseUrl as string;
    const owner = new pg.Client({ connectionString: url });
    await owner.connect();
    try {
      await owner.query(
        `create role ${LOGIN} login password '${PASSWORD}' in role ${SERVICE_ROLE}`,
      );
    } finally {
      await owner.end();
    }
    const server = await deployment.start({ DATABASE_URL: asLogin(url) });
    try {
      expect(warnings(server)).toEqual([]);
      expect(logLines(server.output()).filter((l) => l.level === "warn")).toEqual([]);
      expect(await health(server)).toMatchObject({ status: "ok", log_protection: "protected" });
    } finally {
      await server.stop();
    }
  });

  test("that login role granted UPDATE on events: unprotected again, and the warning says why", async () => {
    const url = deployment.databaseUrl as string;
    const owner = new pg.Client({ connectionString: url });
    await owner.connect();
    try {
      await owner.query(`grant update on events to ${LOGIN}`);
    } finally {
      await owner.end();
    }
    const server = await deployment.start({ DATABASE_URL: asLogin(url) });
    try {
      const lines = warnings(server);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.can).toEqual(["UPDATE on events"]);
      expect(await health(server)).toMatchObject({ log_protection: "unprotected" });
    } finally {
      await server.stop();
    }
  });

  test("the same owner role outside production: health still says unprotected, no warning", async () => {
    const server = await deployment.start({ NODE_ENV: "development" });
    try {
      expect(warnings(server)).toEqual([]);
      expect(await health(server)).toMatchObject({ log_protection: "unprotected" });
    } finally {
      await server.stop();
    }
  });
});

describe.skipIf(onPostgres)("the embedded database in production", () => {
  test("health says unprotected (its only role is a superuser); no warning, no role to change", async () => {
    const embedded = await createDeployment({ NODE_ENV: "production" });
    try {
      const server = await embedded.start();
      expect(warnings(server)).toEqual([]);
      expect(await health(server)).toMatchObject({
        database: "embedded",
        log_protection: "unprotected",
      });
    } finally {
      await embedded.close();
    }
  });
});
