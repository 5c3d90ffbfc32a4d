import { sql } from "kysely";
import type { PasswordResetEmailSent } from "../events/password-reset";
import type { PasswordChangedNoticeSent } from "../events/user";
import type { InlineProjection, RecordedEvent } from "../src/event-store";

/** Mailgun's send answer wraps the message id in angle brackets; its webhooks do not. */
export const bareMessageId = (id: string) => id.trim().replace(/^<|>$/g, "");

/**
 * Provider message id → the stream and request (or notice) it was sent for, written with the
 * Sent event, so that a delivery report finds where it belongs.
 */
export const sentMessagesProjection: InlineProjection = {
  name: "sent-messages",
  handles: ["PasswordResetEmailSent", "PasswordChangedNoticeSent"],
  async apply(trx, event) {
    await this.applyAll?.(trx, [event]);
  },
  // The Sent events of one group commit: one statement for all their rows.
  async applyAll(trx, recorded) {
    const rows = (
      recorded as RecordedEvent<PasswordResetEmailSent | PasswordChangedNoticeSent>[]
    ).flatMap((event) => {
      const id = bareMessageId(event.data.providerMessageId);
      // No id, nothing a report could name.
      if (id === "") return [];
      return [
        {
          provider_message_id: id,
          stream_id: event.streamId,
          kind: event.type === "PasswordResetEmailSent" ? "reset" : "notice",
          reference:
            event.type === "PasswordResetEmailSent"
              ? event.data.requestId
              : event.data.changeEventId,
          sent_event_id: event.eventId,
        },
      ];
    });
    if (rows.length === 0) return;
    await sql`
      insert into sent_messages (provider_message_id, stream_id, kind, reference, sent_event_id)
      select provider_message_id, stream_id, kind, reference, sent_event_id::uuid
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(provider_message_id text,
        stream_id text, kind text, reference text, sent_event_id text)
      on conflict do nothing`.execute(trx);
  },
};
