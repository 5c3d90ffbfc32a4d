import type { PasswordResetEvent } from "../../events/password-reset";
import type { UserEvent } from "../../events/user";

type DomainEventType = PasswordResetEvent["type"] | UserEvent["type"];

const domainTypes = [
  "UserRegistered",
  "UserLoggedIn",
  "SessionEnded",
  "PasswordChanged",
  "PasswordChangedNoticeSent",
  "PasswordChangedNoticeFailed",
  "PersonalDataErased",
  "PasswordResetRequested",
  "PasswordResetRejected",
  "PasswordResetEmailSent",
  "PasswordResetEmailFailed",
  "PasswordResetCodeRejected",
  "PasswordResetCompleted",
] as const satisfies readonly DomainEventType[];

/** The types `--type` accepts without asking the log; any type the log holds is accepted too. */
export const KNOWN_EVENT_TYPES: readonly string[] = [
  ...domainTypes,
  // Delivery reports (README: Delivery reports from Mailgun), recorded from the provider's webhooks.
  "PasswordResetEmailDelivered",
  "PasswordResetEmailBounced",
  "PasswordResetEmailDeferred",
  "PasswordResetEmailComplained",
];
