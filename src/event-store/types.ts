import type { NewEvent } from "../../events/event";

export type { Event, EventEnvelope, Metadata, NewEvent, RecordedEvent } from "../../events/event";

/** A number is the version the stream must be at (0: the stream must not exist). */
export type ExpectedVersion = number | "any";

export interface StreamWrite {
  streamId: string;
  expectedVersion: ExpectedVersion;
  events: NewEvent[];
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
