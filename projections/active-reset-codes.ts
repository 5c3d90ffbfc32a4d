import { createHash } from "node:crypto";
import { CompiledQuery } from "kysely";
import {
  isConcealedRejection,
  type PasswordResetCodeRejected,
  type PasswordResetCompleted,
  type PasswordResetRejected,
  type PasswordResetRequested,
  passwordResetStreamPrefix,
} from "../events/password-reset";
import type { InlineProjection, RecordedEvent, Tx } from "../src/event-store";

// Every code of a group commit in one statement: the users' earlier codes are superseded as
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

type CodeRow = {
  code_hash: string;
  request_id: string;
  stream_id: string;
  user_id: string;
  requested_at: string;
  expires_at: string;
};

/**
 * The row of a request's code; for a concealed rejection, a decoy of the same shape: a hash no
 * code has (not keyed as codes are), the address's stream id as its user (so the next one
 * supersedes it, as an account's next code does), expired when written.
 */
function codeRow(event: RecordedEvent): CodeRow | undefined {
  if (event.type === "PasswordResetRequested") {
    const { data } = event as RecordedEvent<PasswordResetRequested>;
    return {
      code_hash: data.codeHash,
      request_id: data.requestId,
      stream_id: event.streamId,
      user_id: data.userId,
      requested_at: event.recordedAt.toISOString(),
      expires_at: data.expiresAt,
    };
  }
  if (!isConcealedRejection(event)) return undefined;
  const { requestId } = (event as RecordedEvent<PasswordResetRejected>).data;
  const at = event.recordedAt.toISOString();
  return {
    code_hash: createHash("sha256").update(`decoy:${requestId}`).digest("hex"),
    request_id: requestId,
    stream_id: event.streamId,
    user_id: event.streamId.slice(passwordResetStreamPrefix.length),
    requested_at: at,
    expires_at: at,
  };
}

const insertCodes = (trx: Tx, rows: CodeRow[]) =>
  trx.executeQuery(CompiledQuery.raw(INSERT_CODES, [JSON.stringify(rows)]));

/**
 * The codes read model: code hash → its request, with one active code per user. A new request
 * supersedes the user's earlier codes in the same transaction that records it; a completed
 * reset uses the code up and a fifth wrong try locks it. A concealed rejection writes a decoy
 * row as a request writes its code, so an unknown email costs what a known one does; no code
 * ever matches it and the sweep removes it with the expired ones.
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
    const events = all.filter((e) => e.type !== "PasswordResetRejected" || isConcealedRejection(e));
    const rows = events.flatMap((e) => codeRow(e) ?? []);
    const users = new Set(rows.map((r) => r.user_id));
    // Set-based when every event is a new code and no user has two; else one after the other.
    if (rows.length === events.length && users.size === rows.length) {
      if (rows.length > 0) await insertCodes(trx, rows);
      return;
    }
    for (const event of events) await this.apply(trx, event);
  },
  async apply(trx, recorded) {
    const event = recorded as RecordedEvent<PasswordResetCompleted | PasswordResetCodeRejected>;
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
    const row = codeRow(recorded);
    if (row) await insertCodes(trx, [row]);
  },
};
