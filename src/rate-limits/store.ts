import { sql } from "kysely";
import type { Db } from "../db";
import { type Keyring, keyedHash } from "../privacy";
import type { WindowPolicy } from "./gcra";

/** An allowed hit of a window, to give back when the attempt turns out not to count. */
export type WindowHit = { allowed: true; hit: string } | { allowed: false; retryAfterMs: number };

/**
 * At most `max` hits in any `windowMs`: exactly what the README states, no burst on top. The row
 * holds the times of the hits still inside the window (never more than `max`); the upsert's lock
 * on it makes concurrent takes of one key count one after the other.
 */
export async function takeWindow(db: Db, key: string, policy: WindowPolicy): Promise<WindowHit> {
  const window = `${policy.windowMs} milliseconds`;
  const { rows } = await sql<{ hit: string }>`
    insert into rate_windows as r (key, hits, expires_at)
    values (${key}, array[now()], now() + ${window}::interval)
    on conflict (key) do update
      set hits = array(select h from unnest(r.hits) h where h > now() - ${window}::interval order by h)
                 || now(),
          expires_at = now() + ${window}::interval
      where cardinality(array(select h from unnest(r.hits) h where h > now() - ${window}::interval))
            < ${policy.max}
    returning (r.hits[cardinality(r.hits)])::text as hit`.execute(db);
  const taken = rows[0];
  if (taken) return { allowed: true, hit: taken.hit };
  // Refused: the wait until enough of the hits in the window have left it.
  const { rows: waits } = await sql<{ retry_ms: number }>`
    select coalesce(extract(epoch from (
             (select h from unnest(hits) h where h > now() - ${window}::interval order by h desc
              offset ${policy.max - 1} limit 1) + ${window}::interval - now())) * 1000, 1000)::float8
           as retry_ms
    from rate_windows where key = ${key}`.execute(db);
  return { allowed: false, retryAfterMs: Math.max(1, Number(waits[0]?.retry_ms ?? 1000)) };
}

/** Gives back a hit taken for an attempt that turned out not to count (a success). */
export async function refundWindow(db: Db, key: string, hit: WindowHit): Promise<void> {
  if (!hit.allowed) return;
  await sql`update rate_windows set hits = array_remove(hits, ${hit.hit}::timestamptz)
            where key = ${key}`.execute(db);
}

/** Forgets a key's hits (a completed reset clears the account's failed logins). */
export async function clearWindow(db: Db, key: string): Promise<void> {
  await sql`delete from rate_windows where key = ${key}`.execute(db);
}

/**
 * The key of a per-client limit: a keyed hash of the address that stays the same across the
 * log's IP-hash key changes, so a limit never restarts at one. Rows are swept once expired.
 */
export const clientLimitKey = (keyring: Keyring, limit: string, ip: string): string =>
  `${limit}:${keyedHash(keyring, "ip", ip)}`;
