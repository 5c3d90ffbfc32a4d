import type { PasswordResetEmailSent } from "../events/password-reset";
import type { PasswordChangedNoticeSent } from "../events/user";
import { sqlProjection } from "../src/event-store";

/** Mailgun's send answer wraps the message id in angle brackets; its webhooks do not. */
export const bareMessageId = (id: string) => id.trim().replace(/^<|>$/g, "");

type Sent = PasswordResetEmailSent | PasswordChangedNoticeSent;

/**
 * Provider message id → the stream and request (or notice) it was sent for, written with the
 * Sent event, so that a delivery report finds where it belongs.
 */
export const sentMessagesProjection = sqlProjection<Sent>({
  name: "sent-messages",
  handles: ["PasswordResetEmailSent", "PasswordChangedNoticeSent"],
  sql: {
    ctes: `
      sent_messages_written as (
        insert into sent_messages (provider_message_id, stream_id, kind, reference, sent_event_id)
        select r.provider_message_id, a.stream_id, r.kind, r.reference, a.event_id
        from jsonb_to_recordset($rows::jsonb) as r(event_id uuid, provider_message_id text,
          kind text, reference text)
        join appended a on a.event_id = r.event_id
        on conflict do nothing
      )`,
    rows: (events) =>
      events.flatMap((event) => {
        const id = bareMessageId(event.data.providerMessageId);
        // No id, nothing a report could name.
        if (id === "") return [];
        return [
          {
            event_id: event.eventId,
            provider_message_id: id,
            ...(event.type === "PasswordResetEmailSent"
              ? { kind: "reset", reference: event.data.requestId }
              : { kind: "notice", reference: event.data.changeEventId }),
          },
        ];
      }),
  },
});
