import {
  isDispatchOutcome,
  type PasswordResetEmailFailed,
  type PasswordResetEmailSent,
  type PasswordResetRequested,
} from "../../events/password-reset";
import {
  deterministicUuid,
  type EventStore,
  type ReactorHandler,
  type RecordedEvent,
} from "../../src/event-store";
import type { Logger } from "../../src/log";
import type { MailBatcherOptions } from "../../src/mail/batch";
import { deliveryRecord } from "../../src/mail/deliver";
import type { Mailer, MailTemplate } from "../../src/mail/mailer";
import { mailReactor } from "../../src/mail/reactor";
import type { SendMarks } from "../../src/mail/send-marks";
import { type CodeKeys, type DataKeys, unseal } from "../../src/privacy";
import { CODE_VARIABLE, type EmailCatalog } from "./catalog";
import { formatResetCode } from "./code-format";

export const RESET_MAILER = "reset-mailer";

type Outcome = PasswordResetEmailSent | PasswordResetEmailFailed;

/** The one id a request's outcome can have: a second outcome for it cannot be appended. */
export const outcomeEventId = (requestId: string) =>
  deterministicUuid(`reset-outcome:${requestId}`);

export interface ResetMailerDeps {
  store: EventStore;
  dataKeys: DataKeys;
  codeKeys: CodeKeys;
  mailer: Mailer;
  marks: SendMarks;
  emails: EmailCatalog;
  log: Logger;
  /** Requests handled at once; they wait for the batcher, which bounds the provider calls. */
  concurrency?: number;
  batching?: MailBatcherOptions;
  now?: () => number;
}

/**
 * Sends each requested code by email, in batches with the other codes of the moment, and
 * records the outcome. Sends only before the request's dispatch deadline.
 */
export function resetMailer(deps: ResetMailerDeps): ReactorHandler {
  // One template per lifetime and language, so the batcher groups the messages that share one.
  const templates = new Map<string, MailTemplate>();
  const templateFor = (locale: string, expiresInMinutes: number) => {
    const key = `${locale}:${expiresInMinutes}`;
    let template = templates.get(key);
    if (!template) {
      template = deps.emails.resetTemplate(locale, expiresInMinutes);
      templates.set(key, template);
    }
    return template;
  };

  return mailReactor<RecordedEvent<PasswordResetRequested>, Outcome>(
    { ...deps, concurrency: deps.concurrency ?? 1024 },
    {
      key: (event) => event.data.requestId,
      outcomeEventId: (event) => outcomeEventId(event.data.requestId),
      isOutcome: (later, event) =>
        isDispatchOutcome(later) && later.data.requestId === event.data.requestId,
      deadline: (event) => Date.parse(event.data.dispatchDeadline),
      async prepare(event) {
        // The trigger's answer goes out first: in conceal mode its time must not tell that an
        // email is being prepared (README: Security).
        await new Promise((resolve) => setImmediate(resolve));
        const { requestId, userId, sealedCode, sealedEmail, expiresAt } = event.data;
        const key = await deps.dataKeys.find(userId);
        if (!key) {
          // Nothing will open this code again: drop the key this process may still hold for it.
          deps.codeKeys.release(requestId);
          return { notSent: "erased" };
        }
        // The code is sealed under the request's own key, which the outcome's record destroys.
        const codeKey = await deps.codeKeys.find(requestId);
        if (!codeKey) return { notSent: "code_key_missing" };
        const expiresInMinutes = Math.max(
          1,
          Math.round((Date.parse(expiresAt) - event.recordedAt.getTime()) / 60_000),
        );
        return {
          template: templateFor(deps.emails.known(event.data.locale), expiresInMinutes),
          recipient: {
            to: unseal(key, userId, sealedEmail),
            variables: { [CODE_VARIABLE]: formatResetCode(unseal(codeKey, requestId, sealedCode)) },
          },
        };
      },
      outcome(event, result) {
        const { requestId } = event.data;
        const record = deliveryRecord(deps.mailer.name, result);
        const locale = deps.emails.known(event.data.locale);
        return record.sent
          ? { type: "PasswordResetEmailSent", data: { requestId, ...record.data, locale } }
          : { type: "PasswordResetEmailFailed", data: { requestId, ...record.data } };
      },
    },
  );
}
