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
  for (;;) {
    try {
      return { value: await attempt() };
    } catch (error) {
      if (options.now() + options.retryMs >= options.deadline) return undefined;
      options.onRetry?.(error);
      await Bun.sleep(options.retryMs);
    }
  }
}

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

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
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 5000;
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

  for (;;) {
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

    const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempts - 1));
    const jittered = random() * ceiling;
    const delay =
      outcome.retryAfterMs ??
      (outcome.status === 429 ? Math.max(jittered, options.rateLimitedDelayMs ?? 1000) : jittered);
    // Waiting until (or past) the deadline could only end in giving up, so give up now.
    if (now() + delay >= deadline) return gaveUp();
    await sleep(delay);
  }
}
