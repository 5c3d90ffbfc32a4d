import { postWithin } from "./http-post";
import {
  isRetryableStatus,
  type MailBatch,
  type Mailer,
  type MailMessage,
  type SendOutcome,
} from "./mailer";

export interface MailgunMailerOptions {
  apiKey: string;
  domain: string;
  url?: string;
}

export const DEFAULT_MAILGUN_URL = "https://api.mailgun.net";

type Fields = [name: string, value: string | readonly string[]][];

/**
 * Mailgun's messages API over `fetch` with a multipart form, as its own client sends it, without
 * that client's per-call work (a client object, option checks, its form and response layers).
 */
export function createMailgunMailer(options: MailgunMailerOptions): Mailer {
  // Fail at start-up rather than on every send.
  if (options.apiKey === "") throw new Error("mailgun: apiKey is empty");
  if (options.domain === "") throw new Error("mailgun: domain is empty");
  const base = (options.url ?? DEFAULT_MAILGUN_URL).replace(/\/+$/, "");
  const endpoint = `${base}/v3/${options.domain}/messages`;
  const authorization = `Basic ${btoa(`api:${options.apiKey}`)}`;

  /** One POST, bounded by `timeoutMs`; never throws. */
  function post(fields: Fields, timeoutMs: number): Promise<SendOutcome> {
    const form = new FormData();
    for (const [name, value] of fields) {
      if (typeof value === "string") form.append(name, value);
      else for (const one of value) form.append(name, one);
    }
    return postWithin(
      endpoint,
      { headers: { authorization }, body: form },
      timeoutMs,
      (response, body) =>
        response.ok
          ? { ok: true, providerMessageId: messageIdOf(body) }
          : refusal(response.status, response.headers.get("retry-after")),
    );
  }

  return {
    name: "mailgun",
    send(message: MailMessage, timeoutMs: number): Promise<SendOutcome> {
      return post(
        [
          ["to", message.to],
          ["from", message.from],
          ["subject", message.subject],
          ["text", message.text],
          ["html", message.html],
          ["o:tag", message.tags],
        ],
        timeoutMs,
      );
    },
    sendBatch(batch: MailBatch, timeoutMs: number): Promise<SendOutcome> {
      // Batch sending: one `to` per recipient, and Mailgun renders each recipient's own copy.
      const variables = Object.fromEntries(batch.recipients.map((r) => [r.to, r.variables]));
      return post(
        [
          ["to", batch.recipients.map((r) => r.to)],
          ["from", batch.from],
          ["subject", batch.subject],
          ["text", batch.text],
          ["html", batch.html],
          ["o:tag", batch.tags],
          ["recipient-variables", JSON.stringify(variables)],
        ],
        timeoutMs,
      );
    },
  };
}

function messageIdOf(body: string): string {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === "string" ? id : "";
  } catch {
    return "";
  }
}

function refusal(status: number, retryAfter: string | null): SendOutcome {
  const outcome = {
    ok: false,
    retryable: isRetryableStatus(status),
    reason: reasonFor(status),
    status,
    // 429 and 5xx are Mailgun's API saying it did not accept the message.
    ...(isRetryableStatus(status) ? { notTaken: true } : {}),
  } as const;
  const retryAfterMs = retryAfterMsOf(retryAfter);
  return retryAfterMs === undefined ? outcome : { ...outcome, retryAfterMs };
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function retryAfterMsOf(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function reasonFor(status: number): string {
  if (status === 429) return "rate-limited";
  if (status >= 500) return "server-error";
  if (status === 401 || status === 403) return "unauthorized";
  return "rejected";
}
