import Mailgun from "mailgun.js";
import {
  isRetryableStatus,
  type MailBatch,
  type Mailer,
  type MailMessage,
  parseRetryAfter,
  type SendOutcome,
} from "./mailer";

export interface MailgunMailerOptions {
  apiKey: string;
  domain: string;
  url?: string;
}

type MailgunMessageData = Parameters<ReturnType<Mailgun["client"]>["messages"]["create"]>[1];

export const DEFAULT_MAILGUN_URL = "https://api.mailgun.net";

// mailgun.js reports a request that got no response as status 400 with the transport's error code as message.
const TRANSPORT_CODE = /^(E[A-Z0-9_]+|ERR_[A-Z0-9_]+)$/;
// axios uses these two codes for real HTTP error responses whose status line had no reason phrase.
const HTTP_RESPONSE_CODES = new Set(["ERR_BAD_REQUEST", "ERR_BAD_RESPONSE"]);
const TIMEOUT_CODES = new Set(["ECONNABORTED", "ETIMEDOUT"]);
// Failures before any byte of the request could reach the provider: surely not sent.
const NOT_CONNECTED_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ConnectionRefused",
]);

export function createMailgunMailer(options: MailgunMailerOptions): Mailer {
  // Fail at start-up rather than on every send.
  if (options.apiKey === "") throw new Error("mailgun: apiKey is empty");
  if (options.domain === "") throw new Error("mailgun: domain is empty");
  const mailgun = new Mailgun(FormData);
  const url = options.url ?? DEFAULT_MAILGUN_URL;
  /** One messages.create call, bounded by `timeoutMs`; never throws. */
  async function post(fields: MailgunMessageData, timeoutMs: number): Promise<SendOutcome> {
    const timeout = Math.floor(timeoutMs);
    if (!(timeout > 0)) return { ok: false, retryable: true, reason: "timeout" };
    const started = performance.now();
    const attempt = (async (): Promise<SendOutcome> => {
      try {
        // mailgun.js fixes the timeout when a client is built; building one costs microseconds, so build per call.
        const client = mailgun.client({
          username: "api",
          key: options.apiKey,
          url,
          timeout,
          useFetch: true,
        });
        const result = await client.messages.create(options.domain, fields);
        return { ok: true, providerMessageId: result.id ?? "" };
      } catch (error) {
        return classifyError(error, performance.now() - started, timeout);
      }
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Backstop in case the transport's own timeout does not cover a slowly dripping body.
    const backstop = new Promise<SendOutcome>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, retryable: true, reason: "timeout", maybeSent: true }),
        timeout,
      );
    });
    try {
      return await Promise.race([attempt, backstop]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    name: "mailgun",
    send(message: MailMessage, timeoutMs: number): Promise<SendOutcome> {
      return post(
        {
          to: message.to,
          from: message.from,
          subject: message.subject,
          text: message.text,
          html: message.html,
          "o:tag": message.tags,
        },
        timeoutMs,
      );
    },
    sendBatch(batch: MailBatch, timeoutMs: number): Promise<SendOutcome> {
      // Batch sending: one `to` per recipient, and Mailgun renders each recipient's own copy.
      const variables = Object.fromEntries(batch.recipients.map((r) => [r.to, r.variables]));
      return post(
        {
          to: batch.recipients.map((r) => r.to),
          from: batch.from,
          subject: batch.subject,
          text: batch.text,
          html: batch.html,
          "o:tag": batch.tags,
          "recipient-variables": JSON.stringify(variables),
        },
        timeoutMs,
      );
    },
  };
}

function classifyError(error: unknown, elapsedMs: number, timeoutMs: number): SendOutcome {
  if (typeof error !== "object" || error === null || !("status" in error)) {
    return { ok: false, retryable: false, reason: "client-error" };
  }
  const status = typeof error.status === "number" ? error.status : undefined;
  const code = "message" in error && typeof error.message === "string" ? error.message : "";
  const details = "details" in error && typeof error.details === "string" ? error.details : "";
  if (status === undefined) return { ok: false, retryable: false, reason: "client-error" };

  if (status === 400 && TRANSPORT_CODE.test(code) && !HTTP_RESPONSE_CODES.has(code)) {
    const timedOut = TIMEOUT_CODES.has(code) || /timeout/i.test(details) || elapsedMs >= timeoutMs;
    const maybeSent = timedOut || !NOT_CONNECTED_CODES.has(code);
    return { ok: false, retryable: true, reason: timedOut ? "timeout" : "network", maybeSent };
  }

  const retryable = isRetryableStatus(status);
  const outcome: SendOutcome = { ok: false, retryable, reason: reasonFor(status), status };
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(retryAfterHeader(error));
    if (retryAfterMs !== undefined) outcome.retryAfterMs = retryAfterMs;
  }
  return outcome;
}

function reasonFor(status: number): string {
  if (status === 429) return "rate-limited";
  if (status >= 500) return "server-error";
  if (status === 401 || status === 403) return "unauthorized";
  return "rejected";
}

// mailgun.js 14 drops response headers from its errors, so this finds nothing today; kept for when it stops.
function retryAfterHeader(error: object): string | undefined {
  if (!("headers" in error) || typeof error.headers !== "object" || error.headers === null) {
    return undefined;
  }
  const headers = error.headers;
  if (headers instanceof Headers) return headers.get("retry-after") ?? undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === "retry-after" && typeof value === "string") return value;
  }
  return undefined;
}
