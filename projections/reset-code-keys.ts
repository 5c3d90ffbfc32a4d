import {
  isConcealedRejection,
  isDispatchOutcome,
  type PasswordResetEmailFailed,
  type PasswordResetEmailSent,
  type PasswordResetRejected,
  type PasswordResetRequested,
} from "../events/password-reset";
import { type PendingEvent, sqlProjection } from "../src/event-store";
import type { CodeKeys } from "../src/privacy";

type KeyEvent =
  | PasswordResetRequested
  | PasswordResetRejected
  | PasswordResetEmailSent
  | PasswordResetEmailFailed;

/** A request, or a concealed rejection doing a request's work: both bring a held key. */
const bringsKey = (e: PendingEvent<KeyEvent>) =>
  e.type === "PasswordResetRequested" || isConcealedRejection(e);

/**
 * A request's code key lives exactly as long as the request is waiting for its email: written
 * in the statement that records the request, deleted in the one that records the outcome,
 * whichever it is, so the sealed copy in the log opens no more. A concealed rejection's
 * throwaway key is written alike (it opens nothing in the log), so an unknown email costs
 * what a known one does; the sweep removes it.
 */
export function resetCodeKeysProjection(codeKeys: CodeKeys) {
  return sqlProjection<KeyEvent>({
    name: "reset-code-keys",
    handles: [
      "PasswordResetRequested",
      "PasswordResetRejected",
      "PasswordResetEmailSent",
      "PasswordResetEmailFailed",
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
        )`,
      // A request brings its held key; an outcome (no key) destroys the request's.
      rows: (events) => {
        const held = codeKeys.takeHeld(events.filter(bringsKey).map((e) => e.data.requestId));
        return events.flatMap(
          (e): { event_id: string; request_id: string; wrapped_key: string | null }[] => {
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
          },
        );
      },
    },
  });
}
