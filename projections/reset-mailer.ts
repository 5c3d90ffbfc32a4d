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
import { MailBatcher, type MailBatcherOptions } from "../src/mail/batch";
import { UNKNOWN } from "../src/mail/deliver";
import type { Mailer, MailTemplate } from "../src/mail/mailer";
import { CODE_VARIABLE, passwordResetTemplate } from "../src/mail/messages";
import { formatResetCode } from "../src/password-reset/code";
import { type DataKeys, unseal } from "../src/privacy";

export const RESET_MAILER = "reset-mailer";

type Outcome = PasswordResetEmailSent | PasswordResetEmailFailed;

/** The one id a request's outcome can have: a second outcome for it cannot be appended. */
export const outcomeEventId = (requestId: string) =>
  deterministicUuid(`reset-outcome:${requestId}`);

export interface ResetMailerDeps {
  store: EventStore;
  dataKeys: DataKeys;
  mailer: Mailer;
  mailFrom: string;
  log: Logger;
  /** Requests handled at once; they wait for the batcher, which bounds the provider calls. */
  concurrency?: number;
  batching?: MailBatcherOptions;
  now?: () => number;
}

/** How long to wait before trying again to record an outcome while the database is away. */
const HOLD_RETRY_MS = 1_000;
const KEY_RETRY_MS = 100;

/**
 * Sends each requested code by email, outside any transaction, then records the outcome.
 * Sends only before the request's dispatch deadline; after it, records the failure instead.
 */
export function resetMailer(deps: ResetMailerDeps): ReactorHandler {
  const now = deps.now ?? Date.now;
  const outcomes = new AppendBatcher(deps.store, deps.log);
  const batcher = new MailBatcher(deps.mailer, { now, ...deps.batching });
  const templates = new Map<number, MailTemplate>();
  const handling = new Map<string, Promise<void>>();
  const templateFor = (expiresInMinutes: number) => {
    let template = templates.get(expiresInMinutes);
    if (!template) {
      template = passwordResetTemplate({ from: deps.mailFrom, expiresInMinutes });
      templates.set(expiresInMinutes, template);
    }
    return template;
  };

  /** Nothing is sent yet: a database blip here is waited out, up to the deadline. */
  async function keyBefore(userId: string, deadline: number) {
    for (;;) {
      try {
        return await deps.dataKeys.find(userId);
      } catch (error) {
        if (now() + KEY_RETRY_MS >= deadline) return "deadline";
        deps.log.warn("data key lookup failed; retrying", { userId, error });
        await Bun.sleep(KEY_RETRY_MS);
      }
    }
  }

  async function dispatch(
    event: RecordedEvent<PasswordResetRequested>,
    fresh: boolean,
  ): Promise<Outcome> {
    const { requestId, userId, sealedCode, sealedEmail, expiresAt, dispatchDeadline } = event.data;
    const deadline = Date.parse(dispatchDeadline);
    const failed = (reason: string, attempts = 0, status?: number): Outcome => ({
      type: "PasswordResetEmailFailed",
      data:
        status === undefined
          ? { requestId, reason, attempts }
          : { requestId, reason, status, attempts },
    });
    // A redelivered request may have been sent by a process that died before recording it.
    if (now() >= deadline) return failed(fresh ? "deadline" : UNKNOWN);
    const key = await keyBefore(userId, deadline);
    if (key === "deadline") return failed("deadline");
    if (!key) return failed("erased");

    const expiresInMinutes = Math.max(
      1,
      Math.round((Date.parse(expiresAt) - event.recordedAt.getTime()) / 60_000),
    );
    const result = await batcher.send(
      templateFor(expiresInMinutes),
      {
        to: unseal(key, userId, sealedEmail),
        variables: { [CODE_VARIABLE]: formatResetCode(unseal(key, userId, sealedCode)) },
      },
      deadline,
    );
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

  /** The outcome is a fact once the provider answered: held until the database takes it. */
  async function record(event: RecordedEvent<PasswordResetRequested>, outcome: Outcome) {
    const { requestId } = event.data;
    const write = [
      {
        ...outcome,
        eventId: outcomeEventId(requestId),
        metadata: {
          requestId: event.metadata.requestId,
          correlationId: event.metadata.correlationId ?? requestId,
          causationId: event.eventId,
        },
      },
    ];
    for (let attempt = 1; ; attempt++) {
      try {
        await outcomes.append(event.streamId, write);
        return;
      } catch (error) {
        deps.log.warn("reset email outcome held; recording it again", {
          requestId,
          outcome: outcome.type,
          attempt,
          error,
        });
        await Bun.sleep(HOLD_RETRY_MS);
      }
    }
  }

  return {
    kind: "reactor",
    concurrency: deps.concurrency ?? 1024,
    async handle(recorded, context) {
      const event = recorded as RecordedEvent<PasswordResetRequested>;
      const { requestId } = event.data;
      // Handed over again while this process still sends or holds its outcome: that run decides.
      const running = handling.get(requestId);
      if (running) return running;
      const run = handleOnce(event, context.fresh);
      handling.set(requestId, run);
      try {
        await run;
      } finally {
        handling.delete(requestId);
      }
    },
  };

  async function handleOnce(event: RecordedEvent<PasswordResetRequested>, fresh: boolean) {
    const { requestId } = event.data;
    // A redelivery (restart, takeover) may hand us an event whose outcome is already recorded.
    if (!fresh) {
      const later = await deps.store.readStream(event.streamId, {
        afterVersion: event.streamVersion,
      });
      if (later.some((e) => isDispatchOutcome(e) && e.data.requestId === requestId)) return;
    }
    const outcome = await dispatch(event, fresh);
    // The send already happened: only the append is retried from here on, never the send.
    await record(event, outcome);
  }
}
