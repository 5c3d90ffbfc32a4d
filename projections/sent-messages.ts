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
  async apply(trx, recorded) {
    const event = recorded as RecordedEvent<PasswordResetEmailSent | PasswordChangedNoticeSent>;
    const id = bareMessageId(event.data.providerMessageId);
    // No id, nothing a report could name.
    if (id === "") return;
    const [kind, reference] =
      event.type === "PasswordResetEmailSent"
        ? ["reset", event.data.requestId]
        : ["notice", event.data.changeEventId];
    await sql`
      insert into sent_messages (provider_message_id, stream_id, kind, reference, sent_event_id)
      values (${id}, ${event.streamId}, ${kind}, ${reference}, ${event.eventId}::uuid)
      on conflict do nothing`.execute(trx);
  },
};
