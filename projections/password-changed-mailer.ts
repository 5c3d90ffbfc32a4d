import type {
  PasswordChanged,
  PasswordChangedNoticeFailed,
  PasswordChangedNoticeSent,
} from "../events/user";
import type { Db } from "../src/db";
import {
  AppendBatcher,
  deterministicUuid,
  type EventStore,
  type ReactorHandler,
  type RecordedEvent,
} from "../src/event-store";
import type { Logger } from "../src/log";
import { deliverWithRetry } from "../src/mail/deliver";
import type { Mailer } from "../src/mail/mailer";
import { passwordChangedMessage } from "../src/mail/messages";
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
  mailFrom: string;
  log: Logger;
  now?: () => number;
}

/** Tells the account's owner that the password changed (no code, no password in it). */
export function passwordChangedMailer(deps: PasswordChangedMailerDeps): ReactorHandler {
  const now = deps.now ?? Date.now;
  const outcomes = new AppendBatcher(deps.store, deps.log);

  async function dispatch(event: RecordedEvent<PasswordChanged>): Promise<Outcome> {
    const { userId } = event.data;
    const changeEventId = event.eventId;
    const failed = (reason: string): Outcome => ({
      type: "PasswordChangedNoticeFailed",
      data: { changeEventId, reason, attempts: 0 },
    });
    const deadline = event.recordedAt.getTime() + NOTICE_WINDOW_MS;
    if (now() >= deadline) return failed("deadline");
    const key = await deps.dataKeys.find(userId);
    const user = await deps.db
      .selectFrom("users")
      .select("sealed_email")
      .where("id", "=", userId)
      .executeTakeFirst();
    if (!key || !user) return failed("erased");

    const message = passwordChangedMessage({
      to: unseal(key, userId, user.sealed_email),
      from: deps.mailFrom,
    });
    const result = await deliverWithRetry(deps.mailer, message, { deadline, now });
    if (!result.ok) {
      return {
        type: "PasswordChangedNoticeFailed",
        data: {
          changeEventId,
          reason: result.reason,
          attempts: result.attempts,
          ...(result.status === undefined ? {} : { status: result.status }),
        },
      };
    }
    return {
      type: "PasswordChangedNoticeSent",
      data: {
        changeEventId,
        provider: deps.mailer.name,
        providerMessageId: result.providerMessageId,
        attempts: result.attempts,
      },
    };
  }

  return {
    kind: "reactor",
    concurrency: 16,
    async handle(recorded) {
      const event = recorded as RecordedEvent<PasswordChanged>;
      const later = await deps.store.readStream(event.streamId, {
        afterVersion: event.streamVersion,
      });
      if (later.some((e) => isNoticeOutcome(e, event.eventId))) return;
      const outcome = await dispatch(event);
      await outcomes.append(event.streamId, [
        {
          ...outcome,
          eventId: deterministicUuid(`password-changed-notice:${event.eventId}`),
          metadata: {
            requestId: event.metadata.requestId,
            correlationId: event.metadata.correlationId,
            causationId: event.eventId,
          },
        },
      ]);
    },
  };
}
