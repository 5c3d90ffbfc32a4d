import { sql } from "kysely";
import { userStreamId } from "../../events/user";
import type { AppContext } from "../context";
import { snapshotHorizon, toRecordedEvent } from "../event-store";
import { HttpError } from "../http/errors";
import { resetStreamOf } from "../password-reset/streams";
import { emailLookups } from "../privacy";
import type { AuditEvent, AuditFilters } from "./model";
import { presentFields, subjectOf } from "./present";

export type AuditContext = Pick<AppContext, "db" | "keyring" | "dataKeys" | "store">;

export interface AuditPage {
  events: AuditEvent[];
  /** Pass as `after` for the next page; null when this page was the last one for now. */
  next_after: number | null;
}

/**
 * The reset history, oldest first in commit-visibility order: only transactions below the
 * oldest running one are shown, and pages resume after the (transaction, position) of the last
 * event seen, so an event that commits late is never skipped and none is shown twice.
 */
export async function queryAuditEvents(
  ctx: AuditContext,
  filters: AuditFilters,
): Promise<AuditPage> {
  const { db } = ctx;
  const conditions = [sql`e.transaction_id < s.horizon`];

  // The streams first, then their events through the stream index. OFFSET 0 keeps that read
  // separate, so a prepared statement's generic plan cannot trade it for a scan of every event
  // in the from/to window across the whole log.
  const streams = await streamsFor(ctx, filters);
  const source =
    streams === undefined
      ? sql`events`
      : sql`(select * from events where stream_id = any(${streams}::text[]) offset 0)`;
  if (filters.types !== undefined) conditions.push(sql`e.type = any(${filters.types}::text[])`);
  if (filters.from !== undefined) conditions.push(sql`e.recorded_at >= ${filters.from}`);
  if (filters.to !== undefined) conditions.push(sql`e.recorded_at <= ${filters.to}`);
  // after=0 is the start; any other value must be a position this API returned.
  if (filters.after !== undefined && filters.after > 0) {
    const start = await db
      .selectFrom("events")
      .select(sql<string>`transaction_id::text`.as("tx"))
      .where("global_position", "=", filters.after)
      .executeTakeFirst();
    if (!start) throw new HttpError(400, "invalid query parameter: after");
    conditions.push(
      sql`(e.transaction_id, e.global_position) > (${start.tx}::xid8, ${filters.after}::bigint)`,
    );
  }

  const { rows } = await sql<Parameters<typeof toRecordedEvent>[0]>`
    with s as (select ${snapshotHorizon} as horizon)
    select e.global_position, e.transaction_id::text as transaction_id, e.event_id::text as event_id,
           e.stream_id, e.stream_version, e.type, e.data, e.metadata, e.recorded_at
    from ${source} e, s
    where ${sql.join(conditions, sql` and `)}
    order by e.transaction_id, e.global_position
    limit ${filters.limit + 1}`.execute(db);

  const more = rows.length > filters.limit;
  const keys = new Map<string, Uint8Array | undefined>();
  const keyOf = async (subject: string | undefined) => {
    if (subject === undefined) return undefined;
    if (!keys.has(subject)) keys.set(subject, await ctx.dataKeys.find(subject));
    return keys.get(subject);
  };

  const events: AuditEvent[] = [];
  for (const row of rows.slice(0, filters.limit)) {
    const event = toRecordedEvent(row);
    const data = event.data as Record<string, unknown>;
    const subject = subjectOf(event.streamId, data);
    const key = await keyOf(subject);
    events.push({
      position: event.globalPosition,
      stream: event.streamId,
      version: event.streamVersion,
      type: event.type,
      recorded_at: event.recordedAt.toISOString(),
      data: presentFields(data, subject, key),
      metadata: presentFields(event.metadata, subject, key),
    });
  }
  return { events, next_after: more ? (events.at(-1)?.position ?? null) : null };
}

/**
 * The streams holding an email's or a user's history: the email's reset stream and the user
 * streams its requests name (plus the current account's), or a user's stream and the reset
 * streams whose requests name the user (erased users included). Undefined: no such filter.
 */
export async function streamsFor(
  ctx: AuditContext,
  filters: AuditFilters,
): Promise<string[] | undefined> {
  const { db, keyring } = ctx;
  let byEmail: string[] | undefined;
  if (filters.email !== undefined) {
    // Through the address's current stream mapping only: erasure replaced the erased user's.
    const resetStream = await resetStreamOf(ctx, filters.email);
    const [current, named] = await Promise.all([
      db
        .selectFrom("users")
        .select("id")
        .where("email_lookup", "in", emailLookups(keyring, filters.email))
        .executeTakeFirst(),
      sql<{ user_id: string }>`
        select distinct data->>'userId' as user_id from events
        where stream_id = ${resetStream} and type = 'PasswordResetRequested'`.execute(db),
    ]);
    const users = new Set(named.rows.map((r) => r.user_id));
    if (current) users.add(current.id);
    const streams = new Set([resetStream, ...[...users].map(userStreamId)]);
    // The live account's requests wherever they were recorded (a trigger racing its registration).
    if (current) for (const id of await streamsOfUser(db, current.id)) streams.add(id);
    byEmail = [...streams];
  }
  let byUser: string[] | undefined;
  if (filters.userId !== undefined) byUser = await streamsOfUser(db, filters.userId);
  if (byEmail && byUser) return byEmail.filter((id) => byUser.includes(id));
  return byEmail ?? byUser;
}

/** A user's stream and the reset streams whose requests name the user (erased users too). */
async function streamsOfUser(db: AuditContext["db"], userId: string): Promise<string[]> {
  const { rows } = await sql<{ stream_id: string }>`
    select distinct stream_id from events
    where type = 'PasswordResetRequested' and data->>'userId' = ${userId}`.execute(db);
  return [userStreamId(userId), ...rows.map((r) => r.stream_id)];
}

/**
 * Crypto-shredding: the user's data key goes and PersonalDataErased is appended, in one
 * transaction; the events stay byte for byte, their sealed personal data now unreadable. Each
 * read model holding the user's rows forgets them as it applies the event, in that transaction
 * (the account row, codes and their keys, sessions, devices, limits), and the email gets a
 * fresh reset stream, so no query by the address reaches the erased history. Idempotent.
 * `erasedBy` names the audit token that asked, never the token itself.
 */
export async function erasePersonalData(
  ctx: AuditContext,
  userId: string,
  erasedBy: string,
  metadata: { requestId: string },
): Promise<void> {
  const streamId = userStreamId(userId);
  const version = await ctx.store.streamVersion(streamId);
  if (version === 0) throw new HttpError(404, "user not found");
  const key = await ctx.dataKeys.find(userId);
  if (!key) return;
  await ctx.store.transact(async (trx) => {
    await ctx.dataKeys.destroy(trx, userId);
    return [
      {
        streamId,
        expectedVersion: "any",
        events: [
          {
            type: "PersonalDataErased",
            data: { userId, erasedBy },
            metadata: { ...metadata, correlationId: metadata.requestId },
          },
        ],
      },
    ];
  });
  ctx.dataKeys.markErased(userId);
}
