import { sql } from "kysely";
import type {
  PasswordResetRefusalsCounted,
  PasswordResetRejected,
  RateLimitName,
} from "../../events/password-reset";
import type { AppContext } from "../context";
import type { Metadata, NewEvent, Tx } from "../event-store";

/** How long an email's tally runs before its count goes into the log: a few events a minute at most. */
export const TALLY_MS = 60_000;
/**
 * A client's own limits tally for an hour, as long as the limit's window: one client adds at most
 * two events an hour by them, whatever emails it names.
 */
export const CLIENT_TALLY_MS = 3_600_000;
const CLIENT_LIMITS: readonly string[] = ["ip_hourly"] satisfies RateLimitName[];

const tallyMsOf = (limit: string) => (CLIENT_LIMITS.includes(limit) ? CLIENT_TALLY_MS : TALLY_MS);
const age = (ms: number) => `${ms} milliseconds`;

type Tally = { refused: number; first_at: string; last_at: string };

const counted = (limit: string, tally: Tally): PasswordResetRefusalsCounted => ({
  type: "PasswordResetRefusalsCounted",
  data: {
    limit: limit as RateLimitName,
    refused: tally.refused,
    firstAt: new Date(tally.first_at).toISOString(),
    lastAt: new Date(tally.last_at).toISOString(),
  },
});

/** Takes a tally that has run its time out of the table, with the lock that ends it. */
async function endTally(trx: Tx, streamId: string, limit: string, olderThanMs: number) {
  const { rows } = await sql<Tally>`
    delete from refusal_tallies
    where stream_id = ${streamId} and limit_name = ${limit}
      and first_at <= now() - ${age(olderThanMs)}::interval
    returning refused, first_at::text, last_at::text`.execute(trx);
  return rows[0];
}

/**
 * Records a refusal under a limit without growing the log per request: the first refusal of a
 * tally is logged as it is; the next ones only count in its row, and the count goes into the log
 * (PasswordResetRefusalsCounted) once the tally has run its time — at the next refusal or sweep.
 */
export async function recordRefusal(
  ctx: AppContext,
  streamId: string,
  rejection: PasswordResetRejected,
  metadata: Metadata,
): Promise<void> {
  const limit = rejection.data.limit ?? "unknown";
  const tallyMs = tallyMsOf(limit);
  // A flood's usual case, a running tally: one statement, no transaction.
  const { rows: counting } = await sql`
    update refusal_tallies set refused = refused + 1, last_at = now()
    where stream_id = ${streamId} and limit_name = ${limit}
      and first_at > now() - ${age(tallyMs)}::interval
    returning 1`.execute(ctx.db);
  if (counting.length > 0) return;
  await ctx.store.transact(async (trx) => {
    const ended = await endTally(trx, streamId, limit, tallyMs);
    const { rows } = await sql<{ started: boolean }>`
      insert into refusal_tallies as t (stream_id, limit_name, first_at, last_at, refused)
      values (${streamId}, ${limit}, now(), now(), 0)
      on conflict (stream_id, limit_name)
        do update set refused = t.refused + 1, last_at = now()
      returning (xmax = 0) as started`.execute(trx);
    const events: NewEvent[] = [];
    if (ended && ended.refused > 0) events.push({ ...counted(limit, ended), metadata });
    if (rows[0]?.started) events.push({ ...rejection, metadata });
    return events.length === 0 ? [] : [{ streamId, expectedVersion: "any", events }];
  });
}

/**
 * Writes the counts of tallies that have run their time into the log (the periodic sweep), or of
 * every tally at least `olderThanMs` old (0 at shutdown), so a flood that stopped is still reported.
 */
export async function flushRefusals(ctx: AppContext, olderThanMs?: number): Promise<number> {
  const due =
    olderThanMs === undefined
      ? sql<boolean>`first_at <= now() - case when limit_name = any(${CLIENT_LIMITS}::text[])
                       then ${age(CLIENT_TALLY_MS)}::interval else ${age(TALLY_MS)}::interval end`
      : sql<boolean>`first_at <= now() - ${age(olderThanMs)}::interval`;
  const tallies = await ctx.db
    .selectFrom("refusal_tallies")
    .select(["stream_id", "limit_name"])
    .where(due)
    .execute();
  let written = 0;
  for (const { stream_id: streamId, limit_name: limit } of tallies) {
    await ctx.store.transact(async (trx) => {
      const ended = await endTally(trx, streamId, limit, olderThanMs ?? tallyMsOf(limit));
      if (!ended || ended.refused === 0) return [];
      written++;
      return [{ streamId, expectedVersion: "any", events: [counted(limit, ended)] }];
    });
  }
  return written;
}

/** Sweeps due tallies now and then; any process may, since ending a tally takes its row lock. */
export function startFlushingRefusals(ctx: AppContext): { stop(): Promise<void> } {
  const flush = (olderThanMs?: number) =>
    flushRefusals(ctx, olderThanMs).catch((error) =>
      ctx.log.warn("flushing refusal tallies failed", { error }),
    );
  const timer = setInterval(() => void flush(), TALLY_MS / 2);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      // Counted refusals reach the log before the process goes.
      await flush(0);
    },
  };
}
