/**
 * The delivery-report rule (README: Delivery reports from Mailgun) as given/when/then: given the
 * message a report is about (a row of `sent_messages`), when the report, then the event it becomes.
 */
import { describe, test } from "bun:test";
import { decideReport } from "../../src/webhooks/decider";
import type { DeliveryReport } from "../../src/webhooks/model";
import { lookupDeciderSpec } from "../support/decider-spec";

const spec = lookupDeciderSpec(decideReport);

const bounce: DeliveryReport = {
  reportId: "ev-1",
  kind: "bounced",
  messageId: "20261130.abc@mg.example.test",
  recipient: "user@example.com",
  reportedAt: "2025-11-30T10:53:20.000Z",
};

describe("reports", () => {
  test("each kind becomes its event, for a reset email or a notice", () => {
    spec
      .given({ kind: "reset", streamId: "s", reference: "req-1" })
      .when(bounce)
      .thenEquals({
        type: "PasswordResetEmailBounced",
        data: {
          requestId: "req-1",
          providerMessageId: "20261130.abc@mg.example.test",
          reportId: "ev-1",
          reportedAt: "2025-11-30T10:53:20.000Z",
        },
      });
    spec
      .given({ kind: "notice", streamId: "s", reference: "ch-1" })
      .when({ ...bounce, kind: "complained" })
      .thenMatches({ type: "PasswordChangedNoticeComplained", data: { changeEventId: "ch-1" } });
  });
});
