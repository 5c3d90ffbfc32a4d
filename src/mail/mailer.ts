export interface MailMessage {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  tags: string[];
}

export type SendOutcome =
  | { ok: true; providerMessageId: string }
  | {
      ok: false;
      retryable: boolean;
      reason: string;
      status?: number;
      retryAfterMs?: number;
      /** The request may have reached the provider (no answer came): it may have the message. */
      maybeSent?: boolean;
    };

/** A message without its recipient: `%recipient.NAME%` stands for each recipient's own value. */
export type MailTemplate = Omit<MailMessage, "to">;

export interface Recipient {
  to: string;
  variables: Record<string, string>;
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
}

const RECIPIENT_VARIABLE = /%recipient\.([A-Za-z0-9_-]+)%/g;

/** The message one recipient of a batch receives, rendered as the provider renders it. */
export function renderFor(template: MailTemplate, recipient: Recipient): MailMessage {
  const render = (part: string) =>
    part.replace(RECIPIENT_VARIABLE, (_, name: string) => recipient.variables[name] ?? "");
  return {
    ...template,
    to: recipient.to,
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
