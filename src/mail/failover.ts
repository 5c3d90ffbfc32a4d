import type { MailBatch, Mailer, MailMessage, SendOutcome } from "./mailer";

/**
 * A batch refused by every transport that sends batches, with a later one that sends one
 * message per recipient: the batch is split and each message offered again on its own.
 */
export const SPLIT_FOR_FAILOVER = "split-for-failover";

/**
 * Offers each message to the transports in order, going to the next only when the current one
 * surely did not take it. A message one may have taken is never offered to another, nor again.
 */
export function createFailoverMailer(transports: Mailer[], now: () => number = Date.now): Mailer {
  if (transports.length === 0) throw new Error("failover: no transport");

  async function offer(
    call: (transport: Mailer, timeoutMs: number) => Promise<SendOutcome> | undefined,
    timeoutMs: number,
  ): Promise<SendOutcome> {
    const started = now();
    let last: SendOutcome = { ok: false, retryable: true, reason: "timeout" };
    for (const transport of transports) {
      const remaining = timeoutMs - (now() - started);
      if (remaining <= 0) return last;
      const pending = call(transport, remaining);
      if (!pending) {
        return { ok: false, retryable: false, reason: SPLIT_FOR_FAILOVER, notTaken: true };
      }
      const outcome = await pending;
      if (outcome.ok) return { ...outcome, transport: transport.name };
      // Another try, here or elsewhere, could be a second copy.
      if (outcome.maybeSent) return { ...outcome, retryable: false };
      last = outcome;
      if (!outcome.notTaken) return outcome;
    }
    return last;
  }

  const [first] = transports;
  return {
    name: transports.map((t) => t.name).join(","),
    close() {
      for (const transport of transports) transport.close?.();
    },
    send(message: MailMessage, timeoutMs: number): Promise<SendOutcome> {
      return offer((transport, remaining) => transport.send(message, remaining), timeoutMs);
    },
    ...(first?.sendBatch
      ? {
          sendBatch(batch: MailBatch, timeoutMs: number): Promise<SendOutcome> {
            return offer(
              (transport, remaining) => transport.sendBatch?.(batch, remaining),
              timeoutMs,
            );
          },
        }
      : {}),
  };
}
