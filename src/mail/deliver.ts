import { doubling, retry, sleep } from "../retry";
import type { Mailer, MailMessage, SendOutcome } from "./mailer";

export interface DeliverOptions {
  /** epoch ms */
  deadline: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  /** The least wait after a 429 without a readable Retry-After. */
  rateLimitedDelayMs?: number;
  /** An earlier attempt (of a batch this message was part of) may already have reached the provider. */
  maybeSent?: boolean;
}

export type DeliveryResult =
  | { ok: true; providerMessageId: string; attempts: number; transport?: string }
  | { ok: false; reason: string; status?: number; attempts: number };

/**
 * What an outcome event records of a delivery: the transport that took it and its id on
 * success (`provider` the mailer's name unless a failover list says which), why not otherwise.
 */
export function deliveryRecord(
  provider: string,
  result: DeliveryResult,
):
  | { sent: true; data: { provider: string; providerMessageId: string; attempts: number } }
  | { sent: false; data: { reason: string; status?: number; attempts: number } } {
  if (result.ok) {
    const { providerMessageId, attempts } = result;
    return {
      sent: true,
      data: { provider: result.transport ?? provider, providerMessageId, attempts },
    };
  }
  const { reason, status, attempts } = result;
  return {
    sent: false,
    data: status === undefined ? { reason, attempts } : { reason, status, attempts },
  };
}

/** The failure reason that means the provider may have the message: never read it as "not sent". */
export const UNKNOWN = "unknown";

/**
 * Work that must succeed before an email may leave (preparing it, marking it): tried again
 * every `retryMs` while it fails, given up (undefined) once another try would reach the deadline.
 */
export async function retryBeforeDeadline<T>(
  attempt: () => Promise<T>,
  options: {
    deadline: number;
    retryMs: number;
    now: () => number;
    onRetry?: (error: unknown) => void;
  },
): Promise<{ value: T } | undefined> {
  const { deadline, retryMs, now, onRetry } = options;
  try {
    return { value: await retry(attempt, { deadline, now, backoff: () => retryMs, onRetry }) };
  } catch {
    return undefined;
  }
}

/** A refusal worth another attempt: the one failure the send loop retries. */
class Refused extends Error {
  constructor(readonly outcome: Extract<SendOutcome, { ok: false }>) {
    super(outcome.reason);
  }
}

export function deliverWithRetry(
  mailer: Mailer,
  message: MailMessage,
  options: DeliverOptions,
): Promise<DeliveryResult> {
  return retrySend((timeoutMs) => mailer.send(message, timeoutMs), options);
}

/**
 * Calls `send` until the provider accepts, refuses for good, or the deadline comes. A failure
 * after any attempt that may have reached the provider unanswered is reported as `unknown`.
 */
export async function retrySend(
  send: (timeoutMs: number) => Promise<SendOutcome>,
  options: DeliverOptions,
): Promise<DeliveryResult> {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const ceiling = doubling(options.baseDelayMs ?? 200, options.maxDelayMs ?? 5000);
  const { deadline } = options;

  let attempts = 0;
  let lastStatus: number | undefined;
  let maybeSent = options.maybeSent ?? false;
  const gaveUp = (): DeliveryResult => {
    const reason = maybeSent ? UNKNOWN : "deadline";
    return lastStatus === undefined
      ? { ok: false, reason, attempts }
      : { ok: false, reason, status: lastStatus, attempts };
  };

  const attempt = async (): Promise<DeliveryResult> => {
    const remaining = deadline - now();
    if (remaining <= 0) return gaveUp();

    attempts += 1;
    let outcome: SendOutcome;
    try {
      outcome = await send(remaining);
    } catch {
      // A Mailer must not throw; if one does we cannot know whether it sent, so never send again.
      return { ok: false, reason: UNKNOWN, attempts };
    }

    if (outcome.ok) {
      const { providerMessageId, transport } = outcome;
      return transport === undefined
        ? { ok: true, providerMessageId, attempts }
        : { ok: true, providerMessageId, attempts, transport };
    }
    lastStatus = outcome.status;
    if (outcome.maybeSent) maybeSent = true;
    if (!outcome.retryable) {
      const reason = maybeSent ? UNKNOWN : outcome.reason;
      return outcome.status === undefined
        ? { ok: false, reason, attempts }
        : { ok: false, reason, status: outcome.status, attempts };
    }
    throw new Refused(outcome);
  };

  try {
    return await retry(attempt, {
      // Waiting until (or past) the deadline could only end in giving up, so give up now.
      deadline,
      now,
      backoff(n, error) {
        const { outcome } = error as Refused;
        const jittered = random() * ceiling(n);
        return (
          outcome.retryAfterMs ??
          (outcome.status === 429
            ? Math.max(jittered, options.rateLimitedDelayMs ?? 1000)
            : jittered)
        );
      },
      sleep: options.sleep ?? sleep,
    });
  } catch (error) {
    if (error instanceof Refused) return gaveUp();
    throw error;
  }
}
