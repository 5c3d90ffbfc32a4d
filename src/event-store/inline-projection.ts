import type { Transaction } from "kysely";
import type { Schema } from "../db";
import type { Event, RecordedEvent } from "./types";

export type Tx = Transaction<Schema>;

/**
 * A read model updated in the same transaction as the events it reads, typed by the events it
 * handles: the store hands it only those.
 */
export interface InlineProjection<E extends Event = Event> {
  readonly name: string;
  readonly handles: readonly E["type"][];
  apply(trx: Tx, event: RecordedEvent<E>): Promise<void>;
  /**
   * The events of one group commit that this projection handles, in log order, as few
   * statements as it can; without it, apply() runs once per event.
   */
  applyAll?(trx: Tx, events: RecordedEvent<E>[]): Promise<void>;
  /** The same, as CTEs the round's own statement runs (see `sqlProjection`). */
  sql?: ProjectionSql<E>;
}

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
