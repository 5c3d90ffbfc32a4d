import EventEmitter from "eventemitter3";
import type { RecordedEvent } from "./types";

/** A commit somebody made: carries its events when it was made by this process. */
export interface CommitSignal {
  transactionId: string;
  /** The streams written; empty when unknown (too many to name, or a reconnect). */
  streamIds: string[];
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
    const parsed = JSON.parse(payload) as { p?: unknown; x?: unknown; s?: unknown };
    if (typeof parsed.p !== "string" || typeof parsed.x !== "string" || !Array.isArray(parsed.s)) {
      return undefined;
    }
    return {
      processId: parsed.p,
      signal: { transactionId: parsed.x, streamIds: parsed.s.filter((s) => typeof s === "string") },
    };
  } catch {
    return undefined;
  }
}
