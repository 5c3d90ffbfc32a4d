import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Metadata, RecordedEvent, StreamWrite } from "./types";

// Every statement of the log, written once: nothing is built or compiled per call, so each
// text is prepared once per connection.

/** An event as the log's reads return it. */
export interface EventRow {
  global_position: number | string;
  transaction_id: string;
  event_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  data: unknown;
  metadata: unknown;
  recorded_at: Date | string;
}

export function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    globalPosition: Number(row.global_position),
    transactionId: String(row.transaction_id),
    eventId: row.event_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    type: row.type,
    data: row.data as Record<string, unknown>,
    metadata: (row.metadata ?? {}) as Metadata,
    recordedAt: row.recorded_at instanceof Date ? row.recorded_at : new Date(row.recorded_at),
  };
}

/**
 * The oldest transaction still running: every transaction below it has committed or never
 * will, so a read in (transaction, position) order that stops below it skips nothing.
 */
const HORIZON = "pg_snapshot_xmin(pg_current_snapshot())";
/** The same, for statements written with Kysely's `sql` (the audit's filtered reads). */
export const snapshotHorizon = sql.raw<string>(HORIZON);

const EVENT_COLUMNS = `global_position, transaction_id::text as transaction_id,
  event_id::text as event_id, stream_id, stream_version, type, data, metadata, recorded_at`;
export const READ_STREAM = `select ${EVENT_COLUMNS} from events
  where stream_id = $1 and stream_version > $2 order by stream_version`;
// Several streams' events after a version each, in one statement.
export const READ_STREAMS = `select ${EVENT_COLUMNS} from events e
  where e.stream_id = any($1::text[]) and exists (
    select 1 from unnest($1::text[], $2::int[]) as r(s, v)
    where r.s = e.stream_id and e.stream_version > r.v)
  order by e.global_position`;
// A stream from its end backward, one page at a time: a read of the last hour stops near it.
export const READ_STREAM_BACK = `select ${EVENT_COLUMNS} from events
  where stream_id = $1 and stream_version > $2 and stream_version < $3
  order by stream_version desc limit $4`;
export const READ_ALL = `
  with snapshot as (select ${HORIZON} as horizon)
  select s.horizon::text as horizon, e.global_position, e.transaction_id::text as transaction_id,
         e.event_id::text as event_id, e.stream_id, e.stream_version, e.type, e.data,
         e.metadata, e.recorded_at
  from snapshot s left join lateral (
    select * from events
    where (transaction_id, global_position) > ($1::xid8, $2::bigint)
      and transaction_id < s.horizon
      and ($3::text[] is null or type = any($3::text[]))
    order by transaction_id, global_position
    limit $4
  ) e on true`;
export const READ_IDS = `select ${EVENT_COLUMNS} from events
  where event_id = any($1::uuid[]) order by global_position`;
export const STREAM_VERSION =
  "select max(stream_version) as version from events where stream_id = $1";
// How far a subscription is behind its checkpoint; bounded, so one far behind reads as
// "at least 10000".
export const SUBSCRIPTION_LAG = `
  select count(*) as events, min(recorded_at) as oldest from (
    select e.recorded_at from events e
    left join subscriptions s on s.name = $1
    where e.type = any($2::text[])
      and (s.name is null
        or (e.transaction_id, e.global_position) > (s.last_transaction_id, s.last_position))
    limit 10000) behind`;

/** One event of the versioned insert's JSON parameter. */
export interface AppendRow {
  /** The append: all of its writes go in, or none. */
  g: number;
  /** One stream's write in it. */
  w: number;
  stream_id: string;
  /** Null for "any": the stream's end, wherever it is. */
  expected: number | null;
  ord: number;
  event_id: string;
  type: string;
  data: unknown;
  metadata: Metadata;
}

/** What the versioned insert returns of an event it wrote; the rest is in its AppendRow. */
export interface InsertedRow {
  global_position: number | string;
  transaction_id: string;
  event_id: string;
  stream_version: number;
  recorded_at: Date | string;
}

// The versioned insert, for a round of appends and for an append on its own alike. The head is
// the stream's end as this statement sees it; an append whose expected version is not its
// head writes nothing, and the other appends are unaffected. A version taken by a transaction
// it cannot see yet fails the whole statement (unique violation). The inline projections'
// CTEs, when there are any, follow `appended` in the same statement.
export const appendStatement = (projections: readonly string[]) => `
  with v as (
    select * from jsonb_to_recordset($1::jsonb) as v(g int, w int, stream_id text, expected int,
      ord int, event_id uuid, type text, data jsonb, metadata jsonb)
  ),
  heads as (
    select v.g, v.w, v.expected,
      (select coalesce(max(x.stream_version), 0) from events x where x.stream_id = v.stream_id) as head
    from v where v.ord = 1
  ),
  accepted as (
    select g from heads group by g having bool_and(expected is null or expected = head)
  ),
  appended as (
    insert into events (event_id, stream_id, stream_version, type, data, metadata)
    select v.event_id, v.stream_id, h.head + v.ord, v.type, v.data, v.metadata
    from v join heads h on h.w = v.w
    where v.g in (select g from accepted)
    order by v.w, v.ord
    returning global_position, transaction_id, event_id, stream_id, stream_version, type, data,
              recorded_at
  )${projections.map((ctes) => `,\n${ctes}`).join("")}
  select global_position, transaction_id::text as transaction_id, event_id::text as event_id,
         stream_version, recorded_at
  from appended`;
export const APPEND = appendStatement([]);

/** The versioned insert's rows for these appends, each event with its id fixed. */
export function appendRows(appends: readonly (readonly StreamWrite[])[]): AppendRow[] {
  const rows: AppendRow[] = [];
  let w = 0;
  appends.forEach((writes, g) => {
    for (const write of writes) {
      w++;
      write.events.forEach((event, i) => {
        rows.push({
          g,
          w,
          stream_id: write.streamId,
          expected: write.expectedVersion === "any" ? null : write.expectedVersion,
          ord: i + 1,
          event_id: event.eventId ?? randomUUID(),
          type: event.type,
          data: event.data,
          metadata: event.metadata ?? {},
        });
      });
    }
  });
  return rows;
}

/** The events the versioned insert wrote, in log order: the appends' rows with what it returned. */
export function insertedEvents(
  rows: readonly AppendRow[],
  inserted: InsertedRow[],
): RecordedEvent[] {
  const byId = new Map(inserted.map((r) => [r.event_id, r]));
  const events: RecordedEvent[] = [];
  for (const row of rows) {
    const written = byId.get(row.event_id);
    if (written === undefined) continue;
    events.push(
      toRecordedEvent({
        ...written,
        stream_id: row.stream_id,
        type: row.type,
        data: row.data,
        metadata: row.metadata,
      }),
    );
  }
  return events.sort((a, b) => a.globalPosition - b.globalPosition);
}
