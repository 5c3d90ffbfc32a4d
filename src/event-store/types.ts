import type { NewEvent, RecordedEvent } from "../../events/event";

export type { Event, EventEnvelope, Metadata, NewEvent, RecordedEvent } from "../../events/event";

/** A number is the version the stream must be at (0: the stream must not exist). */
export type ExpectedVersion = number | "any";

export interface StreamWrite {
  streamId: string;
  expectedVersion: ExpectedVersion;
  events: NewEvent[];
}

export interface AppendResult {
  /** The stream's version after the append, per stream, in write order. */
  versions: number[];
  events: RecordedEvent[];
  /** True when every event id was already in the log: nothing new was written. */
  duplicate: boolean;
}

/** The subscription order: commit-visibility first, then position inside a transaction. */
export interface Checkpoint {
  transactionId: string;
  position: number;
}

export const START: Checkpoint = { transactionId: "0", position: 0 };

export class VersionConflictError extends Error {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: ExpectedVersion,
  ) {
    super(`stream ${streamId} is not at version ${expectedVersion}`);
    this.name = "VersionConflictError";
  }
}
