import { sql } from "kysely";
import type { Db } from "../db";
import type { RatePolicy } from "./gcra";

export type LimitResult = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * GCRA over a shared table, so every server process sees the same budget. One statement takes a
 * token when one is free; the key is a keyed hash, never the raw IP.
 */
export async function takeToken(db: Db, key: string, policy: RatePolicy): Promise<LimitResult> {
  const interval = `${policy.intervalMs} milliseconds`;
  const window = `${policy.intervalMs * policy.burst} milliseconds`;
  const { rows } = await sql<{ allowed: boolean; retry_ms: number }>`
    with taken as (
      insert into rate_limits as r (key, tat) values (${key}, now() + ${interval}::interval)
      on conflict (key) do update set tat = greatest(r.tat, now()) + ${interval}::interval
        where greatest(r.tat, now()) + ${interval}::interval - now() <= ${window}::interval
      returning 1
    )
    select exists (select 1 from taken) as allowed,
           coalesce((select extract(epoch from (r.tat + ${interval}::interval - ${window}::interval - now())) * 1000
                     from rate_limits r where r.key = ${key}), 0)::float8 as retry_ms`.execute(db);
  const row = rows[0];
  if (row?.allowed !== false) return { allowed: true };
  return { allowed: false, retryAfterMs: Math.max(1, Number(row.retry_ms)) };
}

/** Gives back a token taken for an attempt that turned out not to count (a success). */
export async function refundToken(db: Db, key: string, policy: RatePolicy): Promise<void> {
  await sql`update rate_limits set tat = tat - ${`${policy.intervalMs} milliseconds`}::interval
            where key = ${key}`.execute(db);
}
