import { CompiledQuery, type Kysely } from "kysely";
import type { Schema } from "./schema";

/** How a database's own handle runs a statement without Kysely: `read` may share a connection. */
export interface StatementRunner {
  run(text: string, values: readonly unknown[], read: boolean): Promise<{ rows: unknown[] }>;
}

const runners = new WeakMap<object, StatementRunner>();

/** Gives a database's own handle its direct path (a transaction's handle never has one). */
export function setStatementRunner(db: Kysely<Schema>, runner: StatementRunner): void {
  runners.set(db, runner);
}

/**
 * One statement whose text is a constant (nothing built or compiled per call): straight to the
 * driver on a database's own handle, through Kysely on any other (a transaction).
 */
export async function runStatement<R>(
  db: Kysely<Schema>,
  text: string,
  values: readonly unknown[],
): Promise<R[]> {
  return run<R>(db, text, values, false);
}

/**
 * The same for a statement that only reads and never waits on a commit: on PostgreSQL it may
 * be sent down a connection shared with other reads, behind them, without waiting for their
 * answers (pipelining).
 */
export async function runRead<R>(
  db: Kysely<Schema>,
  text: string,
  values: readonly unknown[],
): Promise<R[]> {
  return run<R>(db, text, values, true);
}

async function run<R>(
  db: Kysely<Schema>,
  text: string,
  values: readonly unknown[],
  read: boolean,
): Promise<R[]> {
  const runner = runners.get(db);
  if (runner !== undefined) return (await runner.run(text, values, read)).rows as R[];
  return (await db.executeQuery<R>(CompiledQuery.raw(text, values as unknown[]))).rows;
}
