import type {
  PasswordResetCodeRejected,
  PasswordResetCompleted,
  PasswordResetRequested,
} from "../events/password-reset";
import type { InlineProjection, RecordedEvent } from "../src/event-store";

/**
 * The codes read model: code hash → its request, with one active code per user. A new request
 * supersedes the user's earlier codes in the same transaction that records it; a completed
 * reset uses the code up and a fifth wrong try locks it.
 */
export const activeResetCodesProjection: InlineProjection = {
  name: "active-reset-codes",
  handles: ["PasswordResetRequested", "PasswordResetCompleted", "PasswordResetCodeRejected"],
  async apply(trx, recorded) {
    const event = recorded as RecordedEvent<
      PasswordResetRequested | PasswordResetCompleted | PasswordResetCodeRejected
    >;
    if (event.type === "PasswordResetCompleted") {
      await trx
        .updateTable("reset_codes")
        .set({ status: "used" })
        .where("request_id", "=", event.data.requestId)
        .execute();
      return;
    }
    if (event.type === "PasswordResetCodeRejected") {
      const { requestId, locked } = event.data;
      if (locked && requestId !== undefined) {
        await trx
          .updateTable("reset_codes")
          .set({ status: "locked" })
          .where("request_id", "=", requestId)
          .execute();
      }
      return;
    }
    const { userId, requestId, codeHash, expiresAt } = event.data;
    await trx
      .updateTable("reset_codes")
      .set({ status: "superseded" })
      .where("user_id", "=", userId)
      .where("status", "=", "active")
      .execute();
    await trx
      .insertInto("reset_codes")
      .values({
        code_hash: codeHash,
        request_id: requestId,
        stream_id: event.streamId,
        user_id: userId,
        requested_at: event.recordedAt,
        expires_at: expiresAt,
      })
      .execute();
  },
};
