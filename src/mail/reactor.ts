import {
  appendPatiently,
  type EventStore,
  type NewEvent,
  type ReactorHandler,
  type RecordedEvent,
} from "../event-store";
import type { Logger } from "../log";
import { MailBatcher, type MailBatcherOptions } from "./batch";
import { type DeliveryResult, retryBeforeDeadline, UNKNOWN } from "./deliver";
import type { Mailer, MailTemplate, Recipient } from "./mailer";
import type { SendMarks } from "./send-marks";

/** What to send for one event, or why nothing is sent (a reason that means "not sent"). */
export type MailJob = { template: MailTemplate; recipient: Recipient } | { notSent: string };

/** What one mailer states: its message, its deadline and its outcome events. */
export interface MailSpec<E extends RecordedEvent, Outcome extends NewEvent> {
  /** Names the email in logs and in its outcome's fixed id. */
  key(event: E): string;
  /** The one id its outcome can have: a second outcome for the same email cannot be appended. */
  outcomeEventId(event: E): string;
  /** Whether an event later in the same stream is this email's outcome. */
  isOutcome(later: RecordedEvent, event: E): boolean;
  /** epoch ms: never sent after it. */
  deadline(event: E): number;
  prepare(event: E): Promise<MailJob>;
  outcome(event: E, result: DeliveryResult): Outcome;
}

export interface MailReactorDeps {
  store: EventStore;
  mailer: Mailer;
  /** What was about to be sent when a process died: never sent twice. */
  marks: SendMarks;
  log: Logger;
  /** Emails handled at once; they wait for the batcher, which bounds the provider calls. */
  concurrency: number;
  batching?: MailBatcherOptions;
  now?: () => number;
}

const PREPARE_RETRY_MS = 100;

/**
 * The skeleton every mailer shares: one email per event, sent outside any transaction before
 * its deadline, and exactly one outcome recorded for it, held until the database takes it.
 */
export function mailReactor<E extends RecordedEvent, Outcome extends NewEvent>(
  deps: MailReactorDeps,
  spec: MailSpec<E, Outcome>,
): ReactorHandler {
  const now = deps.now ?? Date.now;
  const batcher = new MailBatcher(deps.mailer, {
    now,
    ...deps.batching,
    async mark(ids) {
      try {
        await deps.marks.mark(ids);
      } catch (error) {
        deps.log.warn("marking emails before sending failed; nothing sent yet", { error });
        throw error;
      }
    },
  });
  const handling = new Map<string, Promise<void>>();

  /** Nothing is sent yet: a database blip here is waited out, up to the deadline. */
  async function prepareBefore(event: E, deadline: number): Promise<MailJob> {
    const prepared = await retryBeforeDeadline(() => spec.prepare(event), {
      deadline,
      retryMs: PREPARE_RETRY_MS,
      now,
      onRetry: (error) =>
        deps.log.warn("email preparation failed; retrying", { email: spec.key(event), error }),
    });
    return prepared?.value ?? { notSent: "deadline" };
  }

  async function send(event: E, fresh: boolean): Promise<DeliveryResult> {
    const deadline = spec.deadline(event);
    // A redelivered event may have been sent by a process that died before recording it.
    if (now() >= deadline) return { ok: false, reason: fresh ? "deadline" : UNKNOWN, attempts: 0 };
    const job = await prepareBefore(event, deadline);
    if ("notSent" in job) return { ok: false, reason: job.notSent, attempts: 0 };
    const { requestId } = event.metadata;
    const result = await batcher.send(
      job.template,
      requestId === undefined ? job.recipient : { ...job.recipient, requestId },
      deadline,
      spec.outcomeEventId(event),
    );
    if (!result.ok) {
      deps.log.warn("email failed", {
        email: spec.key(event),
        reason: result.reason,
        status: result.status,
      });
    }
    return result;
  }

  /** The outcome is a fact once the provider answered: held until the database takes it. */
  async function record(event: E, outcome: Outcome): Promise<void> {
    const write = [
      {
        ...outcome,
        eventId: spec.outcomeEventId(event),
        metadata: {
          requestId: event.metadata.requestId,
          correlationId: event.metadata.correlationId ?? spec.key(event),
          causationId: event.eventId,
        },
      },
    ];
    // No patience limit: an outcome that happened is never dropped.
    await appendPatiently(deps.store, event.streamId, write, {
      log: deps.log,
      patienceMs: Number.POSITIVE_INFINITY,
      about: { email: spec.key(event), outcome: outcome.type },
    });
  }

  async function handleOnce(event: E, fresh: boolean): Promise<void> {
    // A redelivery (restart, takeover) may hand us an event whose outcome is already recorded,
    // or whose email a process that died may have sent: that one is not sent again.
    if (!fresh) {
      const later = await deps.store.readStream(event.streamId, {
        afterVersion: event.streamVersion,
      });
      if (later.some((e) => spec.isOutcome(e, event))) return;
      if (await deps.marks.isMarked(spec.outcomeEventId(event))) {
        await record(event, spec.outcome(event, { ok: false, reason: UNKNOWN, attempts: 0 }));
        return;
      }
    }
    const result = await send(event, fresh);
    // The send already happened: only the append is retried from here on, never the send.
    await record(event, spec.outcome(event, result));
  }

  return {
    concurrency: deps.concurrency,
    async handle(recorded, context) {
      const event = recorded as E;
      const key = spec.key(event);
      // Handed over again while this process still sends or holds its outcome: that run decides.
      const running = handling.get(key);
      if (running) return running;
      const run = handleOnce(event, context.fresh);
      handling.set(key, run);
      try {
        await run;
      } finally {
        handling.delete(key);
      }
    },
  };
}
