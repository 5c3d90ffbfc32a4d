import { randomBytes } from "node:crypto";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import { createLogger, type Logger } from "../../src/log";
import { createRuntime, type Runtime } from "../../src/runtime";
import { createTestDatabase, type TestDatabase } from "./database";

export interface TestRuntime {
  runtime: Runtime;
  testDb: TestDatabase;
  app: ReturnType<typeof createApp>;
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{
    status: number;
    headers: Headers;
    json: unknown;
  }>;
  close(): Promise<void>;
}

export const testSecret = () => randomBytes(32).toString("hex");

/** The whole service in-process on a fresh test database, driven through app.handle(). */
export async function createTestRuntime(
  env: Record<string, string> = {},
  options: { log?: Logger } = {},
): Promise<TestRuntime> {
  const testDb = await createTestDatabase({ migrate: false });
  const config = loadConfig({ SECRET_KEY: testSecret(), ...env });
  const log = options.log ?? createLogger(() => {});
  const runtime = await createRuntime(config, { database: testDb.database, log });
  await runtime.start();
  const app = createApp(runtime);
  return {
    runtime,
    testDb,
    app,
    async request(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === "string" ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)["content-type"] ??= "application/json";
      }
      const response = await app.handle(new Request(`http://localhost${path}`, init));
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, headers: response.headers, json };
    },
    async close() {
      await runtime.stop();
      await testDb.drop().catch(() => {});
    },
  };
}
