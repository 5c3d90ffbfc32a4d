import { afterAll, beforeAll } from "bun:test";
import { randomBytes } from "node:crypto";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import type { AppContext } from "../../src/context";
import { createLogger, type Logger } from "../../src/log";
import { createRuntime, type RuntimeOptions } from "../../src/runtime";
import { createTestDatabase, type TestDatabase } from "./database";
import { type FakeMailgun, mailgunEnv, startFakeMailgun } from "./fake-mailgun";
import { appClient, type Send } from "./http";

export interface TestRuntime {
  runtime: AppContext;
  testDb: TestDatabase;
  app: ReturnType<typeof createApp>;
  request: Send;
  close(): Promise<void>;
}

export const testSecret = () => randomBytes(32).toString("hex");

/**
 * The whole service in-process on a fresh test database, driven through app.handle().
 * `onQuery` hears every statement; `start: false` leaves the subscriptions and sweeps off, so
 * only the requests run statements.
 */
export async function createTestRuntime(
  env: Record<string, string> = {},
  options: {
    log?: Logger;
    runtime?: Omit<RuntimeOptions, "database" | "log">;
    onQuery?: (sql: string) => void;
    start?: boolean;
  } = {},
): Promise<TestRuntime> {
  const testDb = await createTestDatabase({ migrate: false, onQuery: options.onQuery });
  const config = loadConfig({ SECRET_KEY: testSecret(), ...env });
  const log = options.log ?? createLogger(() => {});
  const runtime = await createRuntime(config, {
    ...options.runtime,
    database: testDb.database,
    log,
  });
  if (options.start !== false) await runtime.start();
  const app = createApp(runtime);
  return {
    runtime,
    testDb,
    app,
    request: appClient(app),
    async close() {
      await runtime.stop();
      await testDb.drop().catch(() => {});
    },
  };
}

export interface MailgunRuntime {
  readonly t: TestRuntime;
  readonly fake: FakeMailgun;
}

/** A test file's fake Mailgun and a runtime sending through it: up in beforeAll, down in afterAll. */
export function runtimeWithFakeMailgun(env: Record<string, string> = {}): MailgunRuntime {
  const fixture = {} as { t: TestRuntime; fake: FakeMailgun };
  beforeAll(async () => {
    fixture.fake = await startFakeMailgun();
    fixture.t = await createTestRuntime({ ...mailgunEnv(fixture.fake), ...env });
  });
  afterAll(async () => {
    await fixture.t?.close();
    await fixture.fake?.stop();
  });
  return fixture;
}
