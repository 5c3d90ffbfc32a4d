import type { PasswordResetRequested } from "../events/password-reset";
import type { InlineProjection, RecordedEvent } from "../src/event-store";

/**
 * The codes read model: code hash → its request, with one active code per user. A new request
 * supersedes the user's earlier codes in the same transaction that records it.
 */
export const activeResetCodesProjection: InlineProjection = {
  name: "active-reset-codes",
  handles: ["PasswordResetRequested"],
  async apply(trx, recorded) {
    const event = recorded as RecordedEvent<PasswordResetRequested>;
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
