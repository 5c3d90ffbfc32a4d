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
  | { ok: false; retryable: boolean; reason: string; status?: number; retryAfterMs?: number };

export interface Mailer {
  readonly name: string;
  send(message: MailMessage, timeoutMs: number): Promise<SendOutcome>;
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
