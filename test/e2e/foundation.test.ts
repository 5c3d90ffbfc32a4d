import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { badBodies, sendBadBody } from "../support/bad-bodies";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { refusesToStart } from "../support/e2e";
import { testSecret } from "../support/runtime";
import { postJson, type ServerProcess, scratchDir, startServer } from "../support/server";

const JSON_ROUTES = ["/v1/auth/register"];

let testDb: TestDatabase;
let server: ServerProcess;
let dir: ReturnType<typeof scratchDir> | undefined;

beforeAll(async () => {
  testDb = await createTestDatabase();
  if (testDb.url) {
    server = await startServer({ DATABASE_URL: testDb.url, SECRET_KEY: testSecret() });
  } else {
    // The child process gets its own database; the embedded one is single-process.
    await testDb.drop();
    dir = scratchDir();
    server = await startServer({ DATA_DIR: dir.path });
  }
});
afterAll(async () => {
  await server?.stop();
  dir?.remove();
  if (testDb.url) await testDb.drop();
});

describe("every JSON route rejects bad bodies with the documented error", () => {
  for (const route of JSON_ROUTES) {
    for (const bad of badBodies) {
      test(`${route}: ${bad.name} → ${bad.status}`, async () => {
        const res = await sendBadBody(server.url, route, bad);
        expect(res.status).toBe(bad.status);
        expect(res.headers.get("content-type")).toStartWith("application/json");
        const body = await res.json();
        expect(body).toEqual({
          error: bad.status === 413 ? "request body too large" : "invalid request body",
        });
      });
    }
  }
});

describe("the HTTP surface", () => {
  test("unknown routes get a JSON 404", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["POST", "/v1/auth/nope"],
      ["DELETE", "/v1/health"],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, { method });
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(await res.json()).toEqual({ error: "not found" });
    }
  });

  test("health answers ok when the database does", async () => {
    const res = await fetch(`${server.url}/v1/health`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("ok");
  });

  test("the OpenAPI document is 3.1 and lists the routes", async () => {
    const res = await fetch(`${server.url}/openapi/json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toStartWith("3.1");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/v1/health", ...JSON_ROUTES]));
    const ui = await fetch(`${server.url}/openapi`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get("content-type")).toContain("text/html");
  });

  test("a wrong field type never reaches the client as a framework validation body", async () => {
    const res = await postJson(`${server.url}/v1/auth/register`, { email: ["a"], password: {} });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: "email and password are required" });
  });
});

describe("start-up", () => {
  test("the embedded database keeps accounts across a restart", async () => {
    const dir = scratchDir();
    try {
      const first = await startServer({ DATA_DIR: dir.path });
      const created = await postJson(`${first.url}/v1/auth/register`, {
        email: "kept@example.com",
        password: "Kept-Passw0rd",
      });
      expect(created.status).toBe(201);
      await first.stop();

      const second = await startServer({ DATA_DIR: dir.path });
      const again = await postJson(`${second.url}/v1/auth/register`, {
        email: "kept@example.com",
        password: "Kept-Passw0rd",
      });
      await second.stop();
      expect(again.status).toBe(409);
    } finally {
      dir.remove();
    }
  });

  const badConfigs: [string, Record<string, string>][] = [
    ["PORT", { PORT: "eighty" }],
    ["DATABASE_URL", { DATABASE_URL: "not a url" }],
    ["SECRET_KEY", { SECRET_KEY: "abcd" }],
    ["RESET_UNKNOWN_EMAIL", { RESET_UNKNOWN_EMAIL: "maybe" }],
    ["RATE_LIMITS", { RATE_LIMITS: "sometimes" }],
    ["MAILGUN_URL", { MAILGUN_URL: "::::" }],
    ["SECRET_KEY", { NODE_ENV: "production" }],
  ];
  for (const [variable, env] of badConfigs) {
    test(`a bad ${variable} stops start-up with one line naming it`, async () => {
      await refusesToStart(env, variable);
    });
  }
});
