import EventEmitter from "eventemitter3";
import type { RecordedEvent } from "./types";

/** A commit somebody made: carries its events when it was made by this process. */
export interface CommitSignal {
  transactionId: string;
  /** The streams written; empty when unknown (too many to name, or a reconnect). */
  streamIds: string[];
  /** The event types committed, when another process named them; absent: any type. */
  types?: string[];
  events?: RecordedEvent[];
}

interface BusEvents {
  commit: (signal: CommitSignal) => void;
}

/** The in-process side of LISTEN/NOTIFY: local appends and remote notifications both land here. */
export class EventBus extends EventEmitter<BusEvents> {}

export const NOTIFY_CHANNEL = "events";

export function decodeNotification(
  payload: string,
): { processId: string; signal: CommitSignal } | undefined {
  try {
    const parsed = JSON.parse(payload) as { p?: unknown; x?: unknown; s?: unknown; t?: unknown };
    if (typeof parsed.p !== "string" || typeof parsed.x !== "string" || !Array.isArray(parsed.s)) {
      return undefined;
    }
    const signal: CommitSignal = {
      transactionId: parsed.x,
      streamIds: parsed.s.filter((s) => typeof s === "string"),
    };
    if (Array.isArray(parsed.t)) signal.types = parsed.t.filter((t) => typeof t === "string");
    return { processId: parsed.p, signal };
  } catch {
    return undefined;
  }
}
