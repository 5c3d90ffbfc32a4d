/** An event as the domain writes it: past-tense type, data without secrets in plaintext. */
export interface Event<Type extends string = string, Data = Record<string, unknown>> {
  type: Type;
  data: Data;
}

export interface Metadata {
  requestId?: string;
  correlationId?: string;
  causationId?: string;
  [key: string]: unknown;
}

/** What a writer appends: the event, plus an id fixed by the writer when a retry must not append twice. */
export type NewEvent<E extends Event = Event> = E extends Event
  ? E & { eventId?: string; metadata?: Metadata }
  : never;

export interface EventEnvelope {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: number;
  transactionId: string;
  metadata: Metadata;
  recordedAt: Date;
}

/** An event as read back from the log; a union of events stays a discriminated union. */
export type RecordedEvent<E extends Event = Event> = E extends Event ? E & EventEnvelope : never;
