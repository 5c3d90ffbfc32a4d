import {
  isDispatchOutcome,
  type PasswordResetEmailFailed,
  type PasswordResetEmailSent,
  type PasswordResetRequested,
} from "../events/password-reset";
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
import { passwordResetMessage } from "../src/mail/messages";
import { formatResetCode } from "../src/password-reset/code";
import { type CodeKeys, type DataKeys, unseal } from "../src/privacy";

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
  mailFrom: string;
  log: Logger;
  concurrency?: number;
  now?: () => number;
}

/**
 * Sends each requested code by email, outside any transaction, then records the outcome.
 * Sends only before the request's dispatch deadline; after it, records the failure instead.
 */
export function resetMailer(deps: ResetMailerDeps): ReactorHandler {
  const now = deps.now ?? Date.now;
  const outcomes = new AppendBatcher(deps.store, deps.log);

  async function dispatch(event: RecordedEvent<PasswordResetRequested>): Promise<Outcome> {
    const { requestId, userId, sealedCode, sealedEmail, expiresAt, dispatchDeadline } = event.data;
    const deadline = Date.parse(dispatchDeadline);
    const failed = (reason: string, attempts = 0, status?: number): Outcome => ({
      type: "PasswordResetEmailFailed",
      data:
        status === undefined
          ? { requestId, reason, attempts }
          : { requestId, reason, status, attempts },
    });
    if (now() >= deadline) return failed("deadline");
    const key = await deps.dataKeys.find(userId);
    if (!key) return failed("erased");
    // The code is sealed under the request's own key, which the outcome's record destroys.
    const codeKey = await deps.codeKeys.find(requestId);
    if (!codeKey) return failed("code_key_missing");

    const message = passwordResetMessage({
      to: unseal(key, userId, sealedEmail),
      from: deps.mailFrom,
      code: formatResetCode(unseal(codeKey, requestId, sealedCode)),
      expiresInMinutes: Math.max(
        1,
        Math.round((Date.parse(expiresAt) - event.recordedAt.getTime()) / 60_000),
      ),
    });
    const result = await deliverWithRetry(deps.mailer, message, { deadline, now });
    if (!result.ok) {
      deps.log.warn("reset email failed", {
        requestId,
        reason: result.reason,
        status: result.status,
      });
      return failed(result.reason, result.attempts, result.status);
    }
    return {
      type: "PasswordResetEmailSent",
      data: {
        requestId,
        provider: deps.mailer.name,
        providerMessageId: result.providerMessageId,
        attempts: result.attempts,
      },
    };
  }

  return {
    kind: "reactor",
    concurrency: deps.concurrency ?? 64,
    async handle(recorded) {
      const event = recorded as RecordedEvent<PasswordResetRequested>;
      const { requestId } = event.data;
      // A restart may hand us an event whose outcome is already recorded.
      const later = await deps.store.readStream(event.streamId, {
        afterVersion: event.streamVersion,
      });
      if (later.some((e) => isDispatchOutcome(e) && e.data.requestId === requestId)) return;

      const outcome = await dispatch(event);
      // The send already happened: only the append is retried from here on, never the send.
      await outcomes.append(event.streamId, [
        {
          ...outcome,
          eventId: outcomeEventId(requestId),
          metadata: {
            requestId: event.metadata.requestId,
            correlationId: event.metadata.correlationId ?? requestId,
            causationId: event.eventId,
          },
        },
      ]);
    },
  };
}
