import { randomBytes } from "node:crypto";
import pg from "pg";
import { type Database, migrate, openDatabase } from "../../src/db";
import { standIn, useFixture } from "./fixture";
import { templateDump } from "./pglite-template";

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
export const onPostgres = TEST_DATABASE_URL !== undefined && TEST_DATABASE_URL !== "";

export interface TestDatabase {
  /** The URL of the fresh database, or undefined for the embedded one. */
  url: string | undefined;
  database: Database;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** A fresh PostgreSQL database for one test file (TEST_DATABASE_URL), else an in-memory PGlite. */
export async function createTestDatabase(
  options: { migrate?: boolean; onQuery?: (sql: string) => void } = {},
): Promise<TestDatabase> {
  if (!onPostgres || TEST_DATABASE_URL === undefined) {
    const database = await openDatabase({
      loadDataDir: await templateDump(),
      onQuery: options.onQuery,
    });
    if (options.migrate !== false) await migrate(database.db);
    return { url: undefined, database, drop: () => database.close() };
  }
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = withDatabase(TEST_DATABASE_URL, name);
  const database = await openDatabase({ databaseUrl: url, poolSize: 10, onQuery: options.onQuery });
  if (options.migrate !== false) await migrate(database.db);
  return {
    url,
    database,
    async drop() {
      await database.close();
      const cleanup = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

/** The calling block's fresh test database: created before its tests, dropped after them. */
export function useTestDatabase(options?: Parameters<typeof createTestDatabase>[0]): TestDatabase {
  return standIn(
    useFixture(
      "the test database",
      () => createTestDatabase(options),
      (t) => t.drop(),
    ),
  );
}
