import { sql } from "kysely";
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
    // One statement: the user's earlier codes are superseded as the new one goes in.
    await sql`
      with superseded as (
        update reset_codes set status = 'superseded' where user_id = ${userId} and status = 'active'
      )
      insert into reset_codes (code_hash, request_id, stream_id, user_id, requested_at, expires_at)
      values (${codeHash}, ${requestId}, ${event.streamId}, ${userId}, ${event.recordedAt}, ${expiresAt})`.execute(
      trx,
    );
  },
};
