import { sql } from "kysely";
import { snapshotHorizon } from "../event-store";
import { type AuditFilters, instant, invalid, parseAuditQuery } from "./model";
import { type AuditContext, streamsFor } from "./service";

export type Bucket = "hour" | "day";

export interface StatsQuery {
  bucket: Bucket;
  /** Inclusive, at a bucket start. */
  from: Date;
  /** Exclusive, at a bucket start. */
  to: Date;
  email?: string;
  userId?: string;
}

export interface StatsBody {
  bucket: Bucket;
  from: string;
  to: string;
  /** Every bucket of the range, oldest first; `counts` by event type, absent types are 0. */
  buckets: { start: string; counts: Record<string, number> }[];
}

const BUCKET_MS: Record<Bucket, number> = { hour: 3_600_000, day: 86_400_000 };
const DEFAULT_SPAN: Record<Bucket, number> = { hour: 24, day: 30 };
export const MAX_BUCKETS = 5000;

const floorTo = (at: number, bucket: Bucket) =>
  Math.floor(at / BUCKET_MS[bucket]) * BUCKET_MS[bucket];
const ceilTo = (at: number, bucket: Bucket) =>
  Math.ceil(at / BUCKET_MS[bucket]) * BUCKET_MS[bucket];

/**
 * Buckets are whole UTC hours or days: `from` is rounded down and `to` up to a bucket edge, so
 * an event at a bucket's first instant counts in that bucket and never in the one before.
 */
export function parseStatsQuery(
  params: Record<string, string[] | undefined>,
  now: number = Date.now(),
): StatsQuery {
  const one = (name: string): string | undefined => {
    const values = params[name];
    if (values === undefined || values.length === 0) return undefined;
    if (values.length > 1) throw invalid(name);
    return values[0];
  };
  const rawBucket = one("bucket") ?? "hour";
  if (rawBucket !== "hour" && rawBucket !== "day") throw invalid("bucket");
  const bucket: Bucket = rawBucket;
  // email and user_id as the events API reads them.
  const filters: AuditFilters = parseAuditQuery({
    email: params.email,
    user_id: params.user_id,
  });
  const rawTo = one("to");
  const rawFrom = one("from");
  const to = ceilTo(rawTo === undefined ? now : instant(rawTo, "to").getTime(), bucket);
  const from = floorTo(
    rawFrom === undefined
      ? to - DEFAULT_SPAN[bucket] * BUCKET_MS[bucket]
      : instant(rawFrom, "from").getTime(),
    bucket,
  );
  if (!(to > from)) throw invalid("to");
  if ((to - from) / BUCKET_MS[bucket] > MAX_BUCKETS) throw invalid("from");
  return {
    bucket,
    from: new Date(from),
    to: new Date(to),
    ...(filters.email === undefined ? {} : { email: filters.email }),
    ...(filters.userId === undefined ? {} : { userId: filters.userId }),
  };
}

/** A tally of refusals stands for the refused requests it counts, under the refusals' type. */
const weight = sql`case when e.type = 'PasswordResetRefusalsCounted'
                   then (e.data->>'refused')::bigint else 1 end`;
const countedType = sql`case when e.type = 'PasswordResetRefusalsCounted'
                        then 'PasswordResetRejected' else e.type end`;

/**
 * Counts by type per bucket. One account: its streams' events, through the stream index. All
 * accounts: the hourly roll-up up to its checkpoint plus the events committed after it.
 */
export async function auditStats(ctx: AuditContext, query: StatsQuery): Promise<StatsBody> {
  const { bucket, from, to } = query;
  let rows: CountRow[];
  if (query.email !== undefined || query.userId !== undefined) {
    const streams =
      (await streamsFor(ctx, { email: query.email, userId: query.userId, limit: 1 })) ?? [];
    ({ rows } = await sql<(typeof rows)[number]>`
      select bucket, jsonb_object_agg(type, n) as counts from (
        select date_trunc(${bucket}, e.recorded_at, 'UTC') as bucket, ${countedType} as type, sum(${weight}) as n
        from events e
        where e.stream_id = any(${streams}::text[]) and e.recorded_at >= ${from} and e.recorded_at < ${to}
        group by 1, 2
      ) counted group by bucket`.execute(ctx.db));
  } else {
    rows = await allAccounts(ctx, query);
  }

  const size = BUCKET_MS[bucket];
  const byStart = new Map<number, Record<string, number>>();
  for (const row of rows) {
    const at = typeof row.bucket === "object" ? row.bucket.getTime() : Number(row.bucket);
    const start = Number.isNaN(at) ? new Date(row.bucket as string).getTime() : at;
    const key = Math.floor(start / size) * size;
    const counts = byStart.get(key) ?? {};
    for (const [type, n] of Object.entries(row.counts))
      counts[type] = (counts[type] ?? 0) + Number(n);
    byStart.set(key, counts);
  }
  const buckets: StatsBody["buckets"] = [];
  for (let start = from.getTime(); start < to.getTime(); start += BUCKET_MS[bucket]) {
    buckets.push({ start: new Date(start).toISOString(), counts: byStart.get(start) ?? {} });
  }
  return { bucket, from: from.toISOString(), to: to.toISOString(), buckets };
}

/** How often a process rolls the log up; reads in between count the short tail themselves. */
const ROLL_UP_EVERY_MS = 1000;
const lastRollUp = new WeakMap<object, number>();
/** The roll-up's checkpoint as this process last saw it; each read checks it is still current. */
const knownCheckpoint = new WeakMap<object, { t: string; p: string }>();

/** Counts by type in one bucket, or in one hour of it (the hours of a bucket add up). */
type CountRow = { bucket: Date | string | number; counts: Record<string, number | string> };

/**
 * The roll-up in the range plus the events after its checkpoint. The checkpoint goes into the
 * statement as constants (as this process last saw it), so the tail is read through the
 * commit-order index; the statement also returns the checkpoint it saw, and is read again if a
 * roll-up had moved it (the moved events would otherwise be counted in both parts).
 */
async function allAccounts(ctx: Pick<AuditContext, "db">, query: StatsQuery): Promise<CountRow[]> {
  const { from, to } = query;
  const now = Date.now();
  if (now - (lastRollUp.get(ctx.db) ?? 0) >= ROLL_UP_EVERY_MS) {
    lastRollUp.set(ctx.db, now);
    await rollUp(ctx);
  }
  for (;;) {
    let cp = knownCheckpoint.get(ctx.db);
    if (cp === undefined) {
      const { rows: cps } = await sql<{ t: string; p: string }>`
        select last_transaction_id::text as t, last_position::text as p
        from audit_stats_checkpoint where id = 1`.execute(ctx.db);
      cp = cps[0] ?? { t: "0", p: "0" };
      knownCheckpoint.set(ctx.db, cp);
    }
    // Hour rows as they are stored: summing them into buckets is left to the caller.
    const { rows } = await sql<CountRow & { seen: string }>`
      with counts as (
        select h.hour, h.counts from audit_stats_hourly h where h.hour >= ${from} and h.hour < ${to}
        union all
        select hour, jsonb_object_agg(type, n) from (
          select date_trunc('hour', e.recorded_at, 'UTC') as hour, ${countedType} as type, sum(${weight}) as n
          from events e
          where (e.transaction_id, e.global_position) > (${cp.t}::xid8, ${cp.p}::bigint)
            and e.recorded_at >= ${from} and e.recorded_at < ${to}
          group by 1, 2
        ) tail group by hour
      )
      select (extract(epoch from counts.hour) * 1000)::bigint as bucket, counts.counts, c.seen
      from counts, (select last_transaction_id::text as seen from audit_stats_checkpoint where id = 1) c`.execute(
      ctx.db,
    );
    // No rows: nothing in the range on either side of any checkpoint.
    const seen = rows[0]?.seen;
    if (seen === undefined || seen === cp.t) return rows;
    // Rolled up since (by any process): count again from where the roll-up now ends.
    knownCheckpoint.set(ctx.db, { t: seen, p: "0" });
  }
}

/**
 * Adds every event below the commit horizon and after the checkpoint to the hourly roll-up, and
 * moves the checkpoint to the horizon, in one transaction. When another caller is already doing
 * it, this one skips: its read counts the events after whichever checkpoint it sees.
 */
export async function rollUp(ctx: Pick<AuditContext, "db">): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ t: string; p: string }>`
      select last_transaction_id::text as t, last_position::text as p from audit_stats_checkpoint
      where id = 1 for update skip locked`.execute(trx);
    const cp = rows[0];
    if (cp === undefined) return;
    await sql`
      with s as (select ${snapshotHorizon} as horizon),
      added as (
        select hour, jsonb_object_agg(type, n) as counts from (
          select date_trunc('hour', e.recorded_at, 'UTC') as hour, ${countedType} as type, sum(${weight}) as n
          from events e, s
          where (e.transaction_id, e.global_position) > (${cp.t}::xid8, ${cp.p}::bigint)
            and e.transaction_id < s.horizon
          group by 1, 2
        ) by_type group by hour
      ),
      counted as (
        insert into audit_stats_hourly (hour, counts) select hour, counts from added
        on conflict (hour) do update set counts = (
          select jsonb_object_agg(k, coalesce((audit_stats_hourly.counts->>k)::bigint, 0)
                                     + coalesce((excluded.counts->>k)::bigint, 0))
          from (select jsonb_object_keys(audit_stats_hourly.counts)
                union select jsonb_object_keys(excluded.counts)) as keys(k))
      )
      update audit_stats_checkpoint set last_transaction_id = s.horizon, last_position = 0
      from s where id = 1 and s.horizon > last_transaction_id`.execute(trx);
  });
}
