import {
  type DeliverOptions,
  type DeliveryResult,
  deliverWithRetry,
  retryBeforeDeadline,
  retrySend,
} from "./deliver";
import { SPLIT_FOR_FAILOVER } from "./failover";
import { type Mailer, type MailTemplate, type Recipient, renderFor } from "./mailer";

export interface MailBatcherOptions extends Omit<DeliverOptions, "deadline" | "maybeSent"> {
  /**
   * Writes down, before a provider call, the ids of the messages it carries; while it fails,
   * nothing is sent (until the earliest deadline of the batch, then none of it is).
   */
  mark?: (ids: string[]) => Promise<void>;
  /** How long to wait before marking again after a failure. */
  markRetryMs?: number;
  /** Provider calls in flight at once; while all are busy, the queue grows into bigger batches. */
  callsInFlight?: number;
  /** Mailgun takes at most 1,000 recipients per call. */
  maxRecipients?: number;
  /** Sends in flight at once when a refused batch is split into single messages. */
  splitConcurrency?: number;
}

interface Entry {
  /** Names the message to `mark`. */
  id: string | undefined;
  template: MailTemplate;
  key: string;
  recipient: Recipient;
  /** epoch ms: after it, this message is never sent. */
  deadline: number;
  settle(result: DeliveryResult): void;
}

const templateKey = (t: MailTemplate) =>
  [t.from, t.subject, t.tags.join(","), t.text, t.html, t.locale ?? ""].join("\u0000");

/**
 * Sends messages that share a template in as few provider calls as it can: what is queued when
 * a call slot frees goes out together, so throughput follows the provider's latency instead of
 * a fixed number of calls in flight. Each message still gets its own result: a batch refused
 * as a whole (one bad address makes Mailgun refuse all) is split and sent one by one.
 */
export class MailBatcher {
  private queue: Entry[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly now: () => number;
  private readonly callsInFlight: number;
  private readonly maxRecipients: number;
  private readonly splitConcurrency: number;

  constructor(
    private readonly mailer: Mailer,
    private readonly options: MailBatcherOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.callsInFlight = options.callsInFlight ?? 32;
    this.maxRecipients = Math.min(1000, options.maxRecipients ?? 500);
    this.splitConcurrency = options.splitConcurrency ?? 16;
  }

  send(
    template: MailTemplate,
    recipient: Recipient,
    deadline: number,
    id?: string,
  ): Promise<DeliveryResult> {
    return new Promise((settle) => {
      this.queue.push({ id, template, key: templateKey(template), recipient, deadline, settle });
      this.schedule();
    });
  }

  /** Messages queued in one tick join the same batch. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.callsInFlight && this.queue.length > 0) {
      const batch = this.take();
      if (batch.length === 0) continue;
      this.inFlight++;
      void this.deliver(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
    }
  }

  /** The oldest message's template, each address at most once (its variables are keyed by it). */
  private take(): Entry[] {
    const now = this.now();
    const first = this.queue[0];
    const batch: Entry[] = [];
    const rest: Entry[] = [];
    const addresses = new Set<string>();
    for (const entry of this.queue) {
      if (entry.deadline <= now) {
        // Never sent: queued until its deadline.
        entry.settle({ ok: false, reason: "deadline", attempts: 0 });
      } else if (
        batch.length < this.maxRecipients &&
        entry.key === first?.key &&
        !addresses.has(entry.recipient.to)
      ) {
        addresses.add(entry.recipient.to);
        batch.push(entry);
      } else {
        rest.push(entry);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async deliver(batch: Entry[]): Promise<void> {
    if (!(await this.marked(batch))) {
      for (const entry of batch) entry.settle({ ok: false, reason: "deadline", attempts: 0 });
      return;
    }
    const sendBatch = this.mailer.sendBatch?.bind(this.mailer);
    const [only] = batch;
    if (batch.length === 1 && only) return this.deliverOne(only, false, 0);
    if (!sendBatch) {
      await this.deliverEach(batch, false, 0);
      return;
    }
    const template = batch[0]?.template as MailTemplate;
    const deadline = Math.min(...batch.map((e) => e.deadline));
    let maybeSent = false;
    const result = await retrySend(
      async (timeoutMs) => {
        const outcome = await sendBatch(
          { ...template, recipients: batch.map((e) => e.recipient) },
          timeoutMs,
        );
        if (!outcome.ok && outcome.maybeSent) maybeSent = true;
        return outcome;
      },
      this.deliverOptions(deadline, false),
    );
    if (!result.ok && result.reason === SPLIT_FOR_FAILOVER) {
      // No transport that sends batches took it: each message goes on alone, to the next one.
      await this.deliverEach(batch, maybeSent, result.attempts);
      return;
    }
    if (result.ok || !isRefusalOfSome(result)) {
      for (const entry of batch) entry.settle(result);
      return;
    }
    await this.deliverEach(batch, maybeSent, result.attempts);
  }

  /** Whether the batch's messages are marked (or need no mark) before its deadline. */
  private async marked(batch: Entry[]): Promise<boolean> {
    const { mark } = this.options;
    if (!mark) return true;
    const ids = batch.flatMap((e) => (e.id === undefined ? [] : [e.id]));
    const marked = await retryBeforeDeadline(() => mark(ids), {
      deadline: Math.min(...batch.map((e) => e.deadline)),
      retryMs: this.options.markRetryMs ?? 100,
      now: this.now,
    });
    return marked !== undefined;
  }

  private async deliverEach(batch: Entry[], maybeSent: boolean, attempts: number): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const entry = batch[next++] as Entry;
        await this.deliverOne(entry, maybeSent, attempts);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.splitConcurrency, batch.length) }, worker),
    );
  }

  private async deliverOne(entry: Entry, maybeSent: boolean, earlier: number): Promise<void> {
    const message = renderFor(entry.template, entry.recipient);
    const result = await deliverWithRetry(
      this.mailer,
      message,
      this.deliverOptions(entry.deadline, maybeSent),
    );
    entry.settle({ ...result, attempts: result.attempts + earlier });
  }

  private deliverOptions(deadline: number, maybeSent: boolean): DeliverOptions {
    const {
      callsInFlight: _c,
      maxRecipients: _m,
      splitConcurrency: _s,
      mark: _mark,
      markRetryMs: _r,
      ...rest
    } = this.options;
    return { ...rest, deadline, maybeSent };
  }
}

/** A 4xx that is about the message, not the account: one recipient may be what it refused. */
function isRefusalOfSome(result: DeliveryResult): boolean {
  if (result.ok || result.status === undefined) return false;
  const { status } = result;
  return status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429;
}
