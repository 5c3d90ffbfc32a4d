import type { Mailer, MailMessage, SendOutcome } from "./mailer";

export interface DeliverOptions {
  /** epoch ms */
  deadline: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  /** The least wait after a 429 whose Retry-After cannot be read (mailgun.js drops headers). */
  rateLimitedDelayMs?: number;
}

export type DeliveryResult =
  | { ok: true; providerMessageId: string; attempts: number }
  | { ok: false; reason: string; status?: number; attempts: number };

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

export async function deliverWithRetry(
  mailer: Mailer,
  message: MailMessage,
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
  const gaveUp = (): DeliveryResult =>
    lastStatus === undefined
      ? { ok: false, reason: "deadline", attempts }
      : { ok: false, reason: "deadline", status: lastStatus, attempts };

  for (;;) {
    const remaining = deadline - now();
    if (remaining <= 0) return gaveUp();

    attempts += 1;
    let outcome: SendOutcome;
    try {
      outcome = await mailer.send(message, remaining);
    } catch {
      // A Mailer must not throw; if one does we cannot know whether it sent, so never send again.
      return { ok: false, reason: "mailer-threw", attempts };
    }

    if (outcome.ok) return { ok: true, providerMessageId: outcome.providerMessageId, attempts };
    lastStatus = outcome.status;
    if (!outcome.retryable) {
      return outcome.status === undefined
        ? { ok: false, reason: outcome.reason, attempts }
        : { ok: false, reason: outcome.reason, status: outcome.status, attempts };
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
