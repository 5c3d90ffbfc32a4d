import { CompiledQuery } from "kysely";
import type { InlineProjection, Tx } from "./store";
import type { Event, RecordedEvent } from "./types";

/** What a projection's SQL form is told of each event of a round it handles. */
export type PendingEvent<E extends Event = Event> = E extends Event
  ? E & { eventId: string; streamId: string }
  : never;

/**
 * An inline projection written as data-modifying CTEs, so that a round's events and this read
 * model go in with one statement (one round trip, one implicit transaction).
 */
export interface ProjectionSql<E extends Event = Event> {
  /**
   * `name as (...)` CTEs, comma-separated, names unique across projections. They read
   * `appended` (event_id, stream_id, stream_version, type, data, recorded_at, global_position:
   * the events this statement wrote, without those whose version check failed) and `$rows`.
   * Sibling CTEs share one snapshot: none sees another's writes.
   */
  ctes: string;
  /** The JSON rows bound to `$rows` for these events, each naming its `event_id`. */
  rows(events: readonly PendingEvent<E>[]): unknown[];
}

const ROWS = /\$rows\b/g;

/** The CTEs with their `$rows` bound to the statement's parameter `$n`. */
export const bindRows = (sql: ProjectionSql<never>, n: number) => sql.ctes.replace(ROWS, `$${n}`);

/**
 * A projection that runs inside the round's statement, and, where an append runs in a
 * transaction of its own (a retry alone, `transact`), as one statement of the same CTEs over
 * the events it just wrote.
 */
export function sqlProjection<E extends Event>(projection: {
  name: string;
  handles: readonly E["type"][];
  sql: ProjectionSql<E>;
}): InlineProjection<E> {
  const text = `
    with appended as (
      select event_id, stream_id, stream_version, type, data, recorded_at, global_position
      from events where event_id = any($1::uuid[])
    ),
    ${bindRows(projection.sql, 2)}
    select 1`;
  const applyAll = async (trx: Tx, events: RecordedEvent<E>[]) => {
    const rows = projection.sql.rows(events);
    if (rows.length === 0) return;
    const ids = events.map((e) => e.eventId);
    await trx.executeQuery(CompiledQuery.raw(text, [ids, JSON.stringify(rows)]));
  };
  return {
    ...projection,
    apply: (trx, event) => applyAll(trx, [event]),
    applyAll,
  };
}
