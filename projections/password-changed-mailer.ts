import type {
  PasswordChanged,
  PasswordChangedNoticeFailed,
  PasswordChangedNoticeSent,
} from "../events/user";
import type { Db } from "../src/db";
import {
  deterministicUuid,
  type EventStore,
  type ReactorHandler,
  type RecordedEvent,
} from "../src/event-store";
import type { Logger } from "../src/log";
import { deliveryRecord } from "../src/mail/deliver";
import type { Mailer } from "../src/mail/mailer";
import { mailReactor } from "../src/mail/reactor";
import type { SendMarks } from "../src/mail/send-marks";
import { passwordChangedMessage } from "../src/password-reset/messages";
import { type DataKeys, unseal } from "../src/privacy";

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
  mailFrom: string;
  log: Logger;
  now?: () => number;
}

/** Tells the account's owner that the password changed (no code, no password in it). */
export function passwordChangedMailer(deps: PasswordChangedMailerDeps): ReactorHandler {
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
          .select("sealed_email")
          .where("id", "=", userId)
          .executeTakeFirst();
        if (!key || !user) return { notSent: "erased" };
        const { to, ...template } = passwordChangedMessage({
          to: unseal(key, userId, user.sealed_email),
          from: deps.mailFrom,
        });
        return { template, recipient: { to, variables: {} } };
      },
      outcome(event, result) {
        const changeEventId = event.eventId;
        const record = deliveryRecord(deps.mailer.name, result);
        return record.sent
          ? { type: "PasswordChangedNoticeSent", data: { changeEventId, ...record.data } }
          : { type: "PasswordChangedNoticeFailed", data: { changeEventId, ...record.data } };
      },
    },
  );
}
