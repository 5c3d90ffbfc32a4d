import { sql } from "kysely";
import type { Db } from "./db";
import type { Logger } from "./log";

const EVERY_MS = 10 * 60 * 1000;

/**
 * Read models that only matter while they are live: spent rate-limit rows, expired sessions and
 * device tokens, and reset codes a day past their expiry. The events keep the history; these go.
 */
export async function sweepExpired(db: Db): Promise<void> {
  await sql`delete from rate_limits where tat < now()`.execute(db);
  await sql`delete from rate_windows where expires_at < now()`.execute(db);
  await sql`delete from sessions where expires_at < now()`.execute(db);
  await sql`delete from device_tokens where expires_at < now()`.execute(db);
  await sql`delete from reset_codes where expires_at < now() - interval '1 day'`.execute(db);
  // A code key whose request never committed (or whose outcome never came) opens nothing useful.
  await sql`delete from reset_code_keys where created_at < now() - interval '1 day'`.execute(db);
  // Every email's deadline is long past: nothing asks whether it was about to be sent.
  await sql`delete from mail_send_marks where marked_at < now() - interval '1 day'`.execute(db);
}

/** Sweeps now and then; any process may do it, since the deletes are idempotent. */
export function startSweeping(db: Db, log: Logger): () => void {
  const timer = setInterval(() => {
    sweepExpired(db).catch((error) => log.warn("sweeping expired rows failed", { error }));
  }, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
