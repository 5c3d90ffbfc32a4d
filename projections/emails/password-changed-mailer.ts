import type {
  PasswordChanged,
  PasswordChangedNoticeFailed,
  PasswordChangedNoticeSent,
} from "../../events/user";
import type { Db } from "../../src/db";
import {
  deterministicUuid,
  type EventStore,
  type ReactorHandler,
  type RecordedEvent,
} from "../../src/event-store";
import type { Logger } from "../../src/log";
import { deliveryRecord } from "../../src/mail/deliver";
import type { Mailer, MailTemplate } from "../../src/mail/mailer";
import { mailReactor } from "../../src/mail/reactor";
import type { SendMarks } from "../../src/mail/send-marks";
import { type DataKeys, unseal } from "../../src/privacy";
import type { EmailCatalog } from "./catalog";

export const PASSWORD_CHANGED_MAILER = "password-changed-mailer";

/** Nobody waits on this email, so it may keep trying for longer than a reset code's email. */
const NOTICE_WINDOW_MS = 60 * 60 * 1000;

type Outcome = PasswordChangedNoticeSent | PasswordChangedNoticeFailed;

const isNoticeOutcome = (event: { type: string; data: unknown }, changeEventId: string) =>
  (event.type === "PasswordChangedNoticeSent" || event.type === "PasswordChangedNoticeFailed") &&
  (event.data as { changeEventId?: string }).changeEventId === changeEventId;

export interface PasswordChangedMailerDeps {
  db: Db;
  store: EventStore;
  dataKeys: DataKeys;
  mailer: Mailer;
  marks: SendMarks;
  emails: EmailCatalog;
  log: Logger;
  now?: () => number;
}

/** Tells the account's owner that the password changed (no code, no password in it). */
export function passwordChangedMailer(deps: PasswordChangedMailerDeps): ReactorHandler {
  const templates = new Map<string, MailTemplate>();
  const templateFor = (locale: string) => {
    let template = templates.get(locale);
    if (!template) {
      template = deps.emails.passwordChanged(locale);
      templates.set(locale, template);
    }
    return template;
  };
  // What prepare chose, for the outcome (each notice is prepared before its outcome is written).
  const locales = new Map<string, string>();
  return mailReactor<RecordedEvent<PasswordChanged>, Outcome>(
    { ...deps, concurrency: 16 },
    {
      key: (event) => event.eventId,
      outcomeEventId: (event) => deterministicUuid(`password-changed-notice:${event.eventId}`),
      isOutcome: (later, event) => isNoticeOutcome(later, event.eventId),
      deadline: (event) => event.recordedAt.getTime() + NOTICE_WINDOW_MS,
      async prepare(event) {
        const { userId } = event.data;
        const key = await deps.dataKeys.find(userId);
        const user = await deps.db
          .selectFrom("users")
          .select(["sealed_email", "sealed_locale"])
          .where("id", "=", userId)
          .executeTakeFirst();
        if (!key || !user) return { notSent: "erased" };
        const accountLocale = user.sealed_locale
          ? unseal(key, userId, user.sealed_locale)
          : undefined;
        // The reset email's language first: it already followed the account, else the request.
        const locale = deps.emails.localeFor(event.data.locale ?? accountLocale, undefined);
        locales.set(event.eventId, locale);
        return {
          template: templateFor(locale),
          recipient: { to: unseal(key, userId, user.sealed_email), variables: {} },
        };
      },
      outcome(event, result) {
        const changeEventId = event.eventId;
        const record = deliveryRecord(deps.mailer.name, result);
        const locale = locales.get(changeEventId);
        locales.delete(changeEventId);
        return record.sent
          ? {
              type: "PasswordChangedNoticeSent",
              data: { changeEventId, ...record.data, ...(locale ? { locale } : {}) },
            }
          : { type: "PasswordChangedNoticeFailed", data: { changeEventId, ...record.data } };
      },
    },
  );
}
