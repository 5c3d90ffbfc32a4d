import type { Db } from "./db";
import type { Logger } from "./log";

const EVERY_MS = 10 * 60 * 1000;

/**
 * A read model's sweep of the rows that only matter while they are live (spent limits, expired
 * sessions, old codes): the events keep the history, these go. Idempotent.
 */
export type Sweep = (db: Db) => Promise<void>;

/** Each sweep in turn; a failure stops the round, and the next round starts over. */
export async function sweepExpired(db: Db, sweeps: readonly Sweep[]): Promise<void> {
  for (const sweep of sweeps) await sweep(db);
}

/** Sweeps now and then; any process may do it, since the deletes are idempotent. */
export function startSweeping(db: Db, log: Logger, sweeps: readonly Sweep[]): () => void {
  const timer = setInterval(() => {
    sweepExpired(db, sweeps).catch((error) => log.warn("sweeping expired rows failed", { error }));
  }, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
