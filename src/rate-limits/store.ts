import { sql } from "kysely";
import type { Db } from "../db";
import { type Keyring, keyedHash } from "../privacy";
import { clientAddress } from "./client";
import type { WindowPolicy } from "./gcra";

/** An allowed hit of a window, to give back when the attempt turns out not to count. */
export type WindowHit = { allowed: true; hit: string } | { allowed: false; retryAfterMs: number };

/**
 * At most `max` hits in any `windowMs`: exactly what the README states, no burst on top. The row
 * holds the times of the hits still inside the window (never more than `max`); the upsert's lock
 * on it makes concurrent takes of one key count one after the other. One statement either way;
 * a window already full when the statement starts is refused by reading alone (no lock, no
 * write, no commit to flush), so a refusal costs less than a take.
 */
export async function takeWindow(db: Db, key: string, policy: WindowPolicy): Promise<WindowHit> {
  const window = `${policy.windowMs} milliseconds`;
  const { rows } = await sql<{ hit: string | null; retry_ms: number | null }>`
    with prior as (
      select cardinality(array(select h from unnest(hits) h where h > now() - ${window}::interval))
               as used,
             (select h from unnest(hits) h where h > now() - ${window}::interval
              order by h desc offset ${policy.max - 1} limit 1) + ${window}::interval - now()
               as wait
      from rate_windows where key = ${key}
    ),
    taken as (
      insert into rate_windows as r (key, hits, expires_at)
      select ${key}, array[now()], now() + ${window}::interval
      where coalesce((select used from prior), 0) < ${policy.max}
      on conflict (key) do update
        set hits = array(select h from unnest(r.hits) h where h > now() - ${window}::interval order by h)
                   || now(),
            expires_at = now() + ${window}::interval
        where cardinality(array(select h from unnest(r.hits) h where h > now() - ${window}::interval))
              < ${policy.max}
      returning (r.hits[cardinality(r.hits)])::text as hit
    )
    select (select hit from taken) as hit,
           (select extract(epoch from wait) * 1000 from prior)::float8 as retry_ms`.execute(db);
  const row = rows[0];
  if (row?.hit != null) return { allowed: true, hit: row.hit };
  // Refused: the wait until enough of the hits in the window have left it (a second when a
  // concurrent take filled the window after this statement's snapshot).
  return { allowed: false, retryAfterMs: Math.max(1, Number(row?.retry_ms ?? 1000)) };
}

/** Gives back a hit taken for an attempt that turned out not to count (a success). */
export async function refundWindow(db: Db, key: string, hit: WindowHit): Promise<void> {
  if (!hit.allowed) return;
  // One hit of that instant, not every one: on a clock of coarse precision another attempt's
  // hit can share it. The position is read off the row being updated (the row a concurrent
  // take may just have rewritten), never off an earlier snapshot of it.
  await sql`update rate_windows
            set hits = hits[:array_position(hits, ${hit.hit}::timestamptz) - 1]
                       || hits[array_position(hits, ${hit.hit}::timestamptz) + 1:]
            where key = ${key} and ${hit.hit}::timestamptz = any(hits)`.execute(db);
}

/** Forgets a key's hits (a completed reset clears the account's failed logins). */
export async function clearWindow(db: Db, key: string): Promise<void> {
  await sql`delete from rate_windows where key = ${key}`.execute(db);
}

/**
 * The limits kept for an account go with it: rows keyed `<limit>:<user id>` or
 * `<limit>:<email lookup>` (hex or a uuid, so no LIKE wildcard inside), in both limit tables.
 */
export async function forgetLimitsOf(db: Db, subjects: string[]): Promise<void> {
  const keys = subjects.map((subject) => `%:${subject}`);
  await sql`delete from rate_windows where key like any(${keys}::text[])`.execute(db);
  await sql`delete from rate_limits where key like any(${keys}::text[])`.execute(db);
}

/** Spent rows: a rate whose theoretical arrival time has passed, a window whose hits all left it. */
export async function sweepLimits(db: Db): Promise<void> {
  await sql`delete from rate_limits where tat < now()`.execute(db);
  await sql`delete from rate_windows where expires_at < now()`.execute(db);
}

/**
 * The key of a per-client limit: a keyed hash of the client (an IPv6 /64, see client.ts) that
 * stays the same across the log's IP-hash key changes, so a limit never restarts at one. Rows
 * are swept once expired.
 */
export const clientLimitKey = (keyring: Keyring, limit: string, ip: string): string =>
  `${limit}:${keyedHash(keyring, "ip", clientAddress(ip))}`;
