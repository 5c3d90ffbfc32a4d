import { sql } from "kysely";
import type {
  PasswordResetRefusalsCounted,
  PasswordResetRejected,
  RateLimitName,
} from "../../events/password-reset";
import type { AppContext } from "../context";
import type { Metadata, NewEvent, Tx } from "../event-store";

/** How long one tally runs before its count goes into the log: a few events a minute at most. */
export const TALLY_MS = 60_000;

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
      and first_at <= now() - ${`${olderThanMs} milliseconds`}::interval
    returning refused, first_at::text, last_at::text`.execute(trx);
  return rows[0];
}

/**
 * Records a refusal under a limit without growing the log per request: the first refusal of a
 * tally is logged as it is; the next ones only count in its row, and the count goes into the log
 * (PasswordResetRefusalsCounted) once the tally is a minute old — at the next refusal or sweep.
 */
export async function recordRefusal(
  ctx: AppContext,
  streamId: string,
  rejection: PasswordResetRejected,
  metadata: Metadata,
): Promise<void> {
  const limit = rejection.data.limit ?? "unknown";
  await ctx.store.transact(async (trx) => {
    const ended = await endTally(trx, streamId, limit, TALLY_MS);
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
 * Writes the counts of tallies at least `olderThanMs` old into the log (the periodic sweep, and
 * every tally at shutdown), so a flood that stopped is still reported.
 */
export async function flushRefusals(ctx: AppContext, olderThanMs = TALLY_MS): Promise<number> {
  const due = await ctx.db
    .selectFrom("refusal_tallies")
    .select(["stream_id", "limit_name"])
    .where(sql<boolean>`first_at <= now() - ${`${olderThanMs} milliseconds`}::interval`)
    .execute();
  let written = 0;
  for (const { stream_id: streamId, limit_name: limit } of due) {
    await ctx.store.transact(async (trx) => {
      const ended = await endTally(trx, streamId, limit, olderThanMs);
      if (!ended || ended.refused === 0) return [];
      written++;
      return [{ streamId, expectedVersion: "any", events: [counted(limit, ended)] }];
    });
  }
  return written;
}

/** Sweeps due tallies now and then; any process may, since ending a tally takes its row lock. */
export function startFlushingRefusals(ctx: AppContext): () => void {
  const timer = setInterval(() => {
    flushRefusals(ctx).catch((error) => ctx.log.warn("flushing refusal tallies failed", { error }));
  }, TALLY_MS / 2);
  timer.unref();
  return () => clearInterval(timer);
}
