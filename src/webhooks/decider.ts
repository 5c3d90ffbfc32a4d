import type { PasswordResetDeliveryReport } from "../../events/password-reset";
import type { PasswordChangedNoticeReport } from "../../events/user";
import type { DeliveryReport, ReportKind } from "./model";

/** What a report's provider message id was sent for (a row of `sent_messages`). */
export interface SentMessage {
  kind: "reset" | "notice";
  streamId: string;
  /** The request id of a reset email, the PasswordChanged event id of a notice. */
  reference: string;
}

const suffix: Record<ReportKind, string> = {
  delivered: "Delivered",
  bounced: "Bounced",
  deferred: "Deferred",
  complained: "Complained",
};

/** The event a report becomes in the stream of the email it is about. */
export function decideReport(
  report: DeliveryReport,
  sent: SentMessage,
): PasswordResetDeliveryReport | PasswordChangedNoticeReport {
  const data = {
    providerMessageId: report.messageId,
    reportId: report.reportId,
    reportedAt: report.reportedAt,
    ...(report.reason === undefined ? {} : { reason: report.reason }),
    ...(report.code === undefined ? {} : { code: report.code }),
  };
  if (sent.kind === "reset") {
    return {
      type: `PasswordResetEmail${suffix[report.kind]}`,
      data: { requestId: sent.reference, ...data },
    } as PasswordResetDeliveryReport;
  }
  return {
    type: `PasswordChangedNotice${suffix[report.kind]}`,
    data: { changeEventId: sent.reference, ...data },
  } as PasswordChangedNoticeReport;
}
