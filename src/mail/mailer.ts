export interface MailMessage {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  tags: string[];
  /** The reader's language, for transports that hand the message on (the hook). */
  locale?: string;
  /** The recipient's own values (a reset code): the hook sends them as fields of their own. */
  variables?: Record<string, string>;
  /** The request this email answers, for transports that hand the message on. */
  requestId?: string;
}

export type SendOutcome =
  | {
      ok: true;
      providerMessageId: string;
      /** Which transport of a failover list took it. */
      transport?: string;
    }
  | {
      ok: false;
      retryable: boolean;
      reason: string;
      status?: number;
      retryAfterMs?: number;
      /** The request may have reached the provider (no answer came): it may have the message. */
      maybeSent?: boolean;
      /** The transport surely did not take the message: the next one of a failover list may. */
      notTaken?: boolean;
    };

/** A message without its recipient: `%recipient.NAME%` stands for each recipient's own value. */
export type MailTemplate = Omit<MailMessage, "to">;

export interface Recipient {
  to: string;
  variables: Record<string, string>;
  requestId?: string;
}

/** One provider call for many recipients, each receiving only their own rendered message. */
export interface MailBatch extends MailTemplate {
  recipients: Recipient[];
}

export interface Mailer {
  readonly name: string;
  send(message: MailMessage, timeoutMs: number): Promise<SendOutcome>;
  /** Absent when the provider has no batch sending: the batch then goes out one by one. */
  sendBatch?(batch: MailBatch, timeoutMs: number): Promise<SendOutcome>;
  /** Lets go of held connections (a pool) when the service stops. */
  close?(): void;
}

const RECIPIENT_VARIABLE = /%recipient\.([A-Za-z0-9_-]+)%/g;

/** The message one recipient of a batch receives, rendered as the provider renders it. */
export function renderFor(template: MailTemplate, recipient: Recipient): MailMessage {
  const render = (part: string) =>
    part.replace(RECIPIENT_VARIABLE, (_, name: string) => recipient.variables[name] ?? "");
  return {
    ...template,
    to: recipient.to,
    variables: recipient.variables,
    ...(recipient.requestId === undefined ? {} : { requestId: recipient.requestId }),
    subject: render(template.subject),
    text: render(template.text),
    html: render(template.html),
  };
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  // Only a date-shaped value may go through Date.parse, which accepts far too much otherwise.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
