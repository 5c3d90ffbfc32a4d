/**
 * A trigger served by a process without the mailer learns its email's outcome from another
 * process's notification: one read covers every waiting request the notification names.
 */
import { describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { EventBus, EventStore } from "../../src/event-store";
import { DispatchOutcomes } from "../../src/password-reset/outcomes";
import { useTestDatabase } from "../support/database";

const testDb = useTestDatabase();

describe("outcomes committed by another process", () => {
  test("one read answers every waiting request its notification names", async () => {
    const bus = new EventBus();
    const store = new EventStore(testDb.database.db, bus);
    const mailerProcess = new EventStore(testDb.database.db, new EventBus());
    const outcomes = new DispatchOutcomes(store, bus);
    const requests = Array.from({ length: 5 }, () => ({
      requestId: randomUUID(),
      streamId: `reset-${randomUUID()}`,
    }));
    const waits = [];
    for (const { requestId, streamId } of requests) {
      await store.append(streamId, 0, [{ type: "PasswordResetRequested", data: { requestId } }]);
      waits.push(outcomes.expect(requestId, streamId).wait(1, 30_000));
    }
    for (const { requestId, streamId } of requests) {
      await mailerProcess.append(streamId, 1, [
        { type: "PasswordResetEmailSent", data: { requestId } },
      ]);
    }
    let reads = 0;
    const readStream = store.readStream.bind(store);
    const readStreams = store.readStreams.bind(store);
    store.readStream = (...args) => {
      reads++;
      return readStream(...args);
    };
    store.readStreams = (...args) => {
      reads++;
      return readStreams(...args);
    };
    // The other process's notification, as the LISTEN handler hands it to the bus.
    bus.emit("commit", { transactionId: "0", streamIds: requests.map((r) => r.streamId) });
    const answered = await Promise.all(waits);
    expect(answered.map((o) => o?.data.requestId)).toEqual(requests.map((r) => r.requestId));
    expect(reads).toBe(1);
  });
});
