import { sql } from "kysely";
import {
  isConcealedRejection,
  isDispatchOutcome,
  type PasswordResetEmailFailed,
  type PasswordResetEmailSent,
  type PasswordResetRejected,
  type PasswordResetRequested,
} from "../events/password-reset";
import type { PersonalDataErased } from "../events/user";
import type { Db } from "../src/db";
import { type PendingEvent, sqlProjection } from "../src/event-store";
import type { CodeKeys } from "../src/privacy";

type KeyEvent =
  | PasswordResetRequested
  | PasswordResetRejected
  | PasswordResetEmailSent
  | PasswordResetEmailFailed;

/** A request, or a concealed rejection doing a request's work: both bring a held key. */
const bringsKey = (
  e: PendingEvent<KeyEvent | PersonalDataErased>,
): e is PendingEvent<PasswordResetRequested | PasswordResetRejected> =>
  e.type === "PasswordResetRequested" || isConcealedRejection(e);

type KeyRow =
  | { event_id: string; request_id: string; wrapped_key: string | null }
  | { event_id: string };

/**
 * A request's code key lives exactly as long as the request is waiting for its email: written
 * in the statement that records the request, deleted in the one that records the outcome,
 * whichever it is, so the sealed copy in the log opens no more. A concealed rejection's
 * throwaway key is written alike (it opens nothing in the log), so an unknown email costs
 * what a known one does; the sweep removes it. An erasure destroys the keys of the user's
 * requests still waiting, found through the requests in the log (never through another read
 * model's rows, which may already be gone in the erasure's transaction).
 */
export function resetCodeKeysProjection(codeKeys: CodeKeys) {
  return sqlProjection<KeyEvent | PersonalDataErased>({
    name: "reset-code-keys",
    handles: [
      "PasswordResetRequested",
      "PasswordResetRejected",
      "PasswordResetEmailSent",
      "PasswordResetEmailFailed",
      "PersonalDataErased",
    ],
    sql: {
      ctes: `
        reset_code_key_rows as (
          select r.request_id, r.wrapped_key
          from jsonb_to_recordset($rows::jsonb) as r(event_id uuid, request_id uuid, wrapped_key text)
          join appended a on a.event_id = r.event_id
        ),
        reset_code_keys_written as (
          insert into reset_code_keys (request_id, wrapped_key)
          select request_id, decode(wrapped_key, 'base64') from reset_code_key_rows
          where wrapped_key is not null
        ),
        reset_code_keys_destroyed as (
          delete from reset_code_keys where request_id in (
            select request_id from reset_code_key_rows where wrapped_key is null)
        ),
        reset_code_keys_forgotten as (
          delete from reset_code_keys k
          using appended a
          join events e on e.type = 'PasswordResetRequested' and e.data->>'userId' = a.data->>'userId'
          where a.type = 'PersonalDataErased' and k.request_id = (e.data->>'requestId')::uuid
        )`,
      // A request brings its held key; an outcome (no key) destroys the request's.
      rows: (events) => {
        const held = codeKeys.takeHeld(events.filter(bringsKey).map((e) => e.data.requestId));
        return events.flatMap((e): KeyRow[] => {
          // An erasure's row names no request: its CTE finds the user's requests in the log.
          if (e.type === "PersonalDataErased") return [{ event_id: e.eventId }];
          const { requestId } = e.data;
          if (isDispatchOutcome(e)) {
            return [{ event_id: e.eventId, request_id: requestId, wrapped_key: null }];
          }
          const wrapped = bringsKey(e) ? held.get(requestId) : undefined;
          if (wrapped === undefined) return [];
          return [
            {
              event_id: e.eventId,
              request_id: requestId,
              wrapped_key: Buffer.from(wrapped).toString("base64"),
            },
          ];
        });
      },
    },
  });
}

/** A key whose request never committed (or whose outcome never came) opens nothing useful. */
export async function sweepResetCodeKeys(db: Db): Promise<void> {
  await sql`delete from reset_code_keys where created_at < now() - interval '1 day'`.execute(db);
}
