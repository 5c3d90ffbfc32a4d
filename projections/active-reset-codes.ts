import { CompiledQuery } from "kysely";
import {
  isConcealedRejection,
  type PasswordResetCodeRejected,
  type PasswordResetCompleted,
  type PasswordResetRequested,
} from "../events/password-reset";
import type { InlineProjection, RecordedEvent, Tx } from "../src/event-store";

// Every request of a group commit in one statement: the users' earlier codes are superseded as
// the new ones go in.
const INSERT_CODES = `
  with input as (
    select * from jsonb_to_recordset($1::jsonb) as r(code_hash text, request_id uuid,
      stream_id text, user_id uuid, requested_at timestamptz, expires_at timestamptz)
  ),
  superseded as (
    update reset_codes set status = 'superseded'
    where user_id in (select user_id from input) and status = 'active'
  )
  insert into reset_codes (code_hash, request_id, stream_id, user_id, requested_at, expires_at)
  select code_hash, request_id, stream_id, user_id, requested_at, expires_at from input`;

/** Requests of distinct users (none for a concealed rejection, which runs it all the same). */
async function insertCodes(trx: Tx, requests: RecordedEvent<PasswordResetRequested>[]) {
  const rows = requests.map((e) => ({
    code_hash: e.data.codeHash,
    request_id: e.data.requestId,
    stream_id: e.streamId,
    user_id: e.data.userId,
    requested_at: e.recordedAt.toISOString(),
    expires_at: e.data.expiresAt,
  }));
  await trx.executeQuery(CompiledQuery.raw(INSERT_CODES, [JSON.stringify(rows)]));
}

/**
 * The codes read model: code hash → its request, with one active code per user. A new request
 * supersedes the user's earlier codes in the same transaction that records it; a completed
 * reset uses the code up and a fifth wrong try locks it. A concealed rejection runs the
 * request's statement with no row, so an unknown email costs what a known one does.
 */
export const activeResetCodesProjection: InlineProjection = {
  name: "active-reset-codes",
  handles: [
    "PasswordResetRequested",
    "PasswordResetRejected",
    "PasswordResetCompleted",
    "PasswordResetCodeRejected",
  ],
  async applyAll(trx, all) {
    const events = all.filter((e) => e.type !== "PasswordResetRejected");
    if (events.length === 0) {
      if (all.some(isConcealedRejection)) await insertCodes(trx, []);
      return;
    }
    const requests = events.filter(
      (e): e is RecordedEvent<PasswordResetRequested> => e.type === "PasswordResetRequested",
    );
    const users = new Set(requests.map((e) => e.data.userId));
    // Set-based only when no user has two requests here; otherwise one event after the other.
    if (requests.length !== events.length || users.size !== requests.length) {
      for (const event of events) await this.apply(trx, event);
      return;
    }
    await insertCodes(trx, requests);
  },
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
    if (event.type === "PasswordResetRequested") await insertCodes(trx, [event]);
    else if (isConcealedRejection(recorded)) await insertCodes(trx, []);
  },
};
