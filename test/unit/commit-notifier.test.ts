/**
 * The notifier after commit: this process's commits only, coalesced into few notifications
 * that name every stream, kept and sent again when a notification fails.
 */
import { describe, expect, test } from "bun:test";
import {
  CommitNotifier,
  decodeNotification,
  EventBus,
  type RecordedEvent,
} from "../../src/event-store";
import { silentLogger } from "../../src/log";
import { waitFor } from "../support/wait";

const own = (transactionId: string, streamIds: string[]) => ({
  transactionId,
  streamIds,
  events: [] as RecordedEvent[],
});

function notifierWith(send: (payload: string) => Promise<void>) {
  const bus = new EventBus();
  const notifier = new CommitNotifier(send, bus, "process-1", { intervalMs: 5, log: silentLogger });
  notifier.start();
  return { bus, notifier };
}

describe("CommitNotifier", () => {
  test("names every stream committed, in fewer notifications than commits, with the newest transaction", async () => {
    const sent: string[] = [];
    const { bus, notifier } = notifierWith(async (payload) => void sent.push(payload));
    const streams = Array.from({ length: 100 }, (_, i) => `s-${i}`);
    for (const [i, id] of streams.entries()) bus.emit("commit", own(String(100 + i), [id]));
    const named = () => new Set(sent.flatMap((p) => decodeNotification(p)?.signal.streamIds ?? []));
    await waitFor(() => streams.every((id) => named().has(id)), { what: "every stream named" });
    expect(sent.length).toBeLessThan(streams.length);
    const decoded = sent.map((p) => decodeNotification(p));
    expect(decoded.every((d) => d?.processId === "process-1")).toBe(true);
    expect(decoded.at(-1)?.signal.transactionId).toBe("199");
    await notifier.stop();
  });

  test("a remote commit (no events) is not announced again", async () => {
    const sent: string[] = [];
    const { bus, notifier } = notifierWith(async (payload) => void sent.push(payload));
    bus.emit("commit", { transactionId: "7", streamIds: ["remote"] });
    bus.emit("commit", own("8", ["local"]));
    await notifier.stop();
    expect(sent.flatMap((p) => decodeNotification(p)?.signal.streamIds ?? [])).toEqual(["local"]);
  });

  test("a failed notification keeps its streams and is sent again", async () => {
    const sent: string[] = [];
    let failures = 2;
    const { bus, notifier } = notifierWith(async (payload) => {
      if (failures-- > 0) throw new Error("connection lost");
      sent.push(payload);
    });
    bus.emit("commit", own("1", ["a", "b"]));
    await waitFor(() => sent.length > 0, { what: "the retried notification" });
    expect(decodeNotification(sent[0] ?? "")?.signal.streamIds.sort()).toEqual(["a", "b"]);
    await notifier.stop();
  });

  test("too many streams to name: an empty list, which listeners read as any stream", async () => {
    const sent: string[] = [];
    const { bus, notifier } = notifierWith(async (payload) => void sent.push(payload));
    const many = Array.from(
      { length: 400 },
      (_, i) => `password-reset-${crypto.randomUUID()}-${i}`,
    );
    bus.emit("commit", own("1", many));
    await notifier.stop();
    expect(sent.length).toBe(1);
    expect(decodeNotification(sent[0] ?? "")?.signal.streamIds).toEqual([]);
    expect((sent[0] ?? "").length).toBeLessThan(8000);
  });
});
