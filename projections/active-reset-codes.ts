import { createHash } from "node:crypto";
import { sql } from "kysely";
import {
  isConcealedRejection,
  type PasswordResetCodeRejected,
  type PasswordResetCompleted,
  type PasswordResetRejected,
  type PasswordResetRequested,
  passwordResetStreamPrefix,
} from "../events/password-reset";
import type { PersonalDataErased } from "../events/user";
import type { Db } from "../src/db";
import { sqlProjection } from "../src/event-store";

/** What the statement is told of an event: a code written, ended, or a user's codes erased. */
type CodeRow = {
  event_id: string;
  status: "active" | "used" | "locked" | "erased";
  code_hash?: string;
  request_id?: string;
  user_id?: string;
  expires_at?: string | null;
  locale?: string | null;
};

/**
 * The codes read model: code hash → its request, with one active code per user. A new request
 * supersedes the user's earlier codes in the statement that records it (of two requests of one
 * user there, the later stays active); a completed reset uses the code up and a fifth wrong try
 * locks it. A concealed rejection writes a decoy row as a request writes its code, so an unknown
 * email costs what a known one does: a hash no code has (not keyed as codes are), the address's
 * stream id as its user (so the next one supersedes it, as an account's next code does),
 * expired when written (no expiry given); the sweep removes it with the expired ones. An
 * erasure deletes every code of the user, whatever its status.
 */
export const activeResetCodesProjection = sqlProjection<
  | PasswordResetRequested
  | PasswordResetRejected
  | PasswordResetCompleted
  | PasswordResetCodeRejected
  | PersonalDataErased
>({
  name: "active-reset-codes",
  handles: [
    "PasswordResetRequested",
    "PasswordResetRejected",
    "PasswordResetCompleted",
    "PasswordResetCodeRejected",
    "PersonalDataErased",
  ],
  sql: {
    ctes: `
      reset_code_rows as (
        select r.*, a.stream_id, a.recorded_at, a.global_position
        from jsonb_to_recordset($rows::jsonb) as r(event_id uuid, status text, code_hash text,
          request_id uuid, user_id uuid, expires_at timestamptz, locale text)
        join appended a on a.event_id = r.event_id
      ),
      reset_codes_superseded as (
        update reset_codes set status = 'superseded'
        where status = 'active'
          and user_id in (select user_id from reset_code_rows where status = 'active')
      ),
      reset_codes_inserted as (
        insert into reset_codes (code_hash, request_id, stream_id, user_id, requested_at,
          expires_at, status, locale)
        select code_hash, request_id, stream_id, user_id, recorded_at,
          coalesce(expires_at, recorded_at),
          case when row_number() over (partition by user_id order by global_position desc) = 1
               then 'active' else 'superseded' end,
          locale
        from reset_code_rows where status = 'active'
      ),
      reset_codes_ended as (
        update reset_codes c set status = r.status
        from reset_code_rows r
        where r.status in ('used', 'locked') and c.request_id = r.request_id
      ),
      reset_codes_forgotten as (
        delete from reset_codes c using reset_code_rows r
        where r.status = 'erased' and c.user_id = r.user_id
      )`,
    rows: (events) =>
      events.flatMap((event): CodeRow[] => {
        const eventId = event.eventId;
        if (event.type === "PasswordResetRejected") {
          if (!isConcealedRejection(event)) return [];
          const { requestId } = event.data;
          return [
            {
              event_id: eventId,
              status: "active",
              code_hash: createHash("sha256").update(`decoy:${requestId}`).digest("hex"),
              request_id: requestId,
              user_id: event.streamId.slice(passwordResetStreamPrefix.length),
              expires_at: null,
            },
          ];
        }
        if (event.type === "PasswordResetCompleted") {
          return [{ event_id: eventId, status: "used", request_id: event.data.requestId }];
        }
        if (event.type === "PasswordResetCodeRejected") {
          const { requestId, locked } = event.data;
          return locked && requestId !== undefined
            ? [{ event_id: eventId, status: "locked", request_id: requestId }]
            : [];
        }
        if (event.type === "PersonalDataErased") {
          return [{ event_id: eventId, status: "erased", user_id: event.data.userId }];
        }
        const { userId, requestId, codeHash, expiresAt, locale } = event.data;
        return [
          {
            event_id: eventId,
            status: "active",
            code_hash: codeHash,
            request_id: requestId,
            user_id: userId,
            expires_at: expiresAt,
            locale: locale ?? null,
          },
        ];
      }),
  },
});

/** Codes a day past their expiry (decoys included) open nothing and answer nothing: they go. */
export async function sweepResetCodes(db: Db): Promise<void> {
  await sql`delete from reset_codes where expires_at < now() - interval '1 day'`.execute(db);
}
