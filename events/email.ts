import type { Event } from "./event";

/**
 * What every email the service sends records: its outcome once (the provider took it, or why
 * not; `unknown` when it may have), then the provider's reports on it. `Ref` names the email
 * (a reset request, a password change) in the events of the stream it belongs to.
 */
export type EmailSent<Type extends string, Ref> = Event<
  Type,
  Ref & { provider: string; providerMessageId: string; attempts: number }
>;

export type EmailFailed<Type extends string, Ref> = Event<
  Type,
  Ref & { reason: string; status?: number; attempts: number }
>;

/**
 * What the provider reported about a sent email after accepting it (a Mailgun webhook): one
 * event per report, `reportId` the provider's own event id. No recipient, no bounce text: the
 * address is personal data and the stream already says whose email it was.
 */
export type DeliveryReportData = {
  providerMessageId: string;
  reportId: string;
  /** When the provider saw it happen (the webhook's own timestamp). */
  reportedAt: string;
  /** Failures only: the provider's reason (`bounce`, `suppress-bounce`, …) and SMTP code. */
  reason?: string;
  code?: number;
};

/**
 * `Delivered`; `Bounced`, a permanent failure (the address will not take this email);
 * `Deferred`, a temporary one (the provider keeps trying); `Complained`.
 */
export type DeliveryReportKind = "Delivered" | "Bounced" | "Deferred" | "Complained";

/** One report on an email whose events are named `${Email}…`. */
export type DeliveryReport<
  Email extends string,
  Ref,
  Kind extends DeliveryReportKind = DeliveryReportKind,
> = Kind extends DeliveryReportKind ? Event<`${Email}${Kind}`, DeliveryReportData & Ref> : never;
