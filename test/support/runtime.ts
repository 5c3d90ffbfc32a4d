import { randomBytes } from "node:crypto";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import type { AppContext } from "../../src/context";
import { createLogger, type Logger } from "../../src/log";
import { createRuntime, type RuntimeOptions } from "../../src/runtime";
import { createTestDatabase, type TestDatabase } from "./database";
import { type FakeMailgun, mailgunEnv } from "./fake-mailgun";
import { standIn, useFakeMailgun, useFixture } from "./fixture";
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

type Env = Record<string, string>;
type RuntimeFixtureOptions = Parameters<typeof createTestRuntime>[1];

/**
 * The calling block's runtime on its own test database: created before its tests, closed after
 * them. `env` may be a function, to name what an earlier hook made (a fake's URL).
 */
export function useRuntime(
  env: Env | (() => Env) = {},
  options?: RuntimeFixtureOptions,
): TestRuntime {
  const t = useFixture(
    "the runtime",
    () => createTestRuntime(typeof env === "function" ? env() : env, options),
    (runtime) => runtime.close(),
  );
  return standIn(t);
}

export interface MailgunRuntime {
  readonly t: TestRuntime;
  readonly fake: FakeMailgun;
}

/** The calling block's fake Mailgun and a runtime sending through it. */
export function runtimeWithFakeMailgun(
  env: Env = {},
  options?: RuntimeFixtureOptions,
): MailgunRuntime {
  const fake = useFakeMailgun();
  const t = useRuntime(() => ({ ...mailgunEnv(fake), ...env }), options);
  return { t, fake };
}
