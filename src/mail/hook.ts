import { Webhook } from "standardwebhooks";
import { postWithin } from "./http-post";
import { isRetryableStatus, type Mailer, type MailMessage, type SendOutcome } from "./mailer";

export interface HookMailerOptions {
  url: string;
  /** A Standard Webhooks secret (`whsec_…`). */
  secret: string;
}

/** What the hook receives: the email, and its parts an application renders itself. */
export interface HookPayload {
  kind: string;
  locale: string | null;
  recipient: string;
  subject: string;
  text: string;
  html: string;
  request_id: string | null;
  code: string | null;
}

/** Hands each email to the application's own endpoint, signed per Standard Webhooks. */
export function createHookMailer(options: HookMailerOptions): Mailer {
  const webhook = new Webhook(options.secret);

  return {
    name: "hook",
    async send(message: MailMessage, timeoutMs: number): Promise<SendOutcome> {
      const payload: HookPayload = {
        kind: message.tags[0] ?? "email",
        locale: message.locale ?? null,
        recipient: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        request_id: message.requestId ?? null,
        code: message.variables?.code ?? null,
      };
      const body = JSON.stringify(payload);
      // The same message keeps its id on every try, so the receiver can drop a repeat.
      const id = `msg_${new Bun.CryptoHasher("sha256").update(body).digest("hex").slice(0, 32)}`;
      const timestamp = new Date();
      const headers = {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
        "webhook-signature": webhook.sign(id, timestamp, body),
      };
      return postWithin(options.url, { headers, body }, timeoutMs, (response) => {
        if (response.ok) {
          return { ok: true, providerMessageId: response.headers.get("webhook-message-id") ?? id };
        }
        return {
          ok: false,
          retryable: isRetryableStatus(response.status),
          reason:
            response.status === 429
              ? "rate-limited"
              : response.status >= 500
                ? "server-error"
                : "rejected",
          status: response.status,
          notTaken: true,
        };
      });
    },
  };
}
