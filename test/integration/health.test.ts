/**
 * Liveness and readiness (README: Operating it): /v1/health/live answers whenever the process
 * serves; /v1/health/ready is 200 only when the database answers, every migration is applied
 * and every subscriber runs, and its 503 names the part that does not.
 */
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { useRuntime } from "../support/runtime";

const t = useRuntime();

const running = expect.stringMatching(/^(owner|standby)$/);

describe("GET /v1/health/live", () => {
  test("200 while the process serves", async () => {
    const res = await t.request("GET", "/v1/health/live");
    expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: { status: "ok" } });
    expect(res.headers.get("cache-control")).toBe("no-store");
  });
});

describe("GET /v1/health/ready", () => {
  test("200 with each part when the database, the migrations and the subscribers are ready", async () => {
    const res = await t.request("GET", "/v1/health/ready");
    expect({ status: res.status, body: res.json }).toEqual({
      status: 200,
      body: {
        status: "ready",
        failing: [],
        database: "ok",
        migrations: "applied",
        subscriptions: { "reset-mailer": running, "password-changed-mailer": running },
      },
    });
  });

  test("a migration not applied: 503 naming the migrations, then 200 once it is", async () => {
    const { rows } = await sql<{ name: string; timestamp: string }>`
      delete from kysely_migration
      where name = (select max(name) from kysely_migration)
      returning name, timestamp`.execute(t.runtime.db);
    const [removed] = rows;
    try {
      const res = await t.request("GET", "/v1/health/ready");
      expect({ status: res.status, body: res.json }).toMatchObject({
        status: 503,
        body: {
          status: "not_ready",
          failing: ["migrations"],
          database: "ok",
          migrations: "pending",
        },
      });
    } finally {
      if (removed !== undefined) {
        await sql`insert into kysely_migration (name, timestamp)
                  values (${removed.name}, ${removed.timestamp})`.execute(t.runtime.db);
      }
    }
    expect((await t.request("GET", "/v1/health/ready")).status).toBe(200);
  });

  test("a stopped subscriber: 503 naming the subscriptions and which one", async () => {
    const stopped = t.runtime.subscriptions.find((s) => s.name === "password-changed-mailer");
    await stopped?.stop();
    const res = await t.request("GET", "/v1/health/ready");
    expect({ status: res.status, body: res.json }).toEqual({
      status: 503,
      body: {
        status: "not_ready",
        failing: ["subscriptions"],
        database: "ok",
        migrations: "applied",
        subscriptions: { "reset-mailer": running, "password-changed-mailer": "stopped" },
      },
    });
    // Liveness is not readiness: the process still answers.
    expect((await t.request("GET", "/v1/health/live")).status).toBe(200);
  });
});
