import { CompiledQuery } from "kysely";
import type { InlineProjection, ProjectionSql, Tx } from "./inline-projection";
import type { Event, RecordedEvent } from "./types";

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
