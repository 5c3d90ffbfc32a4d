import nodemailer from "nodemailer";
import type { Mailer, MailMessage, SendOutcome } from "./mailer";

export interface SmtpMailerOptions {
  /** `smtp://user:password@host:587` (STARTTLS when the server offers it) or `smtps://…:465`. */
  url: string;
  /** Connections the pool keeps open at most. */
  maxConnections?: number;
}

// Failures that end before the server could have been handed the message.
const NOT_CONNECTED = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"]);
const BEFORE_ANY_MAIL = new Set(["EDNS", "ETLS", "EAUTH", "ENOAUTH", "EOAUTH2", "EREQUIRETLS"]);

/** One message per recipient over a pool of SMTP connections; never throws. */
export function createSmtpMailer(options: SmtpMailerOptions): Mailer {
  const parsed = new URL(options.url);
  if (parsed.protocol !== "smtp:" && parsed.protocol !== "smtps:") {
    throw new Error("smtp: expected an smtp:// or smtps:// URL");
  }
  const transporter = nodemailer.createTransport({
    url: options.url,
    pool: true,
    maxConnections: options.maxConnections ?? 8,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });

  return {
    name: "smtp",
    close() {
      transporter.close();
    },
    async send(message: MailMessage, timeoutMs: number): Promise<SendOutcome> {
      const timeout = Math.floor(timeoutMs);
      if (!(timeout > 0)) return { ok: false, retryable: true, reason: "timeout" };
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeout);
      });
      try {
        const sent = transporter.sendMail({
          from: message.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
        });
        // The pool may still hand it over after we stop waiting: its fate is unknown.
        sent.catch(() => {});
        const info = await Promise.race([sent, late]);
        if (info === "timeout") {
          return { ok: false, retryable: true, reason: "timeout", maybeSent: true };
        }
        return { ok: true, providerMessageId: info.messageId ?? "" };
      } catch (error) {
        return refusal(error);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

function refusal(error: unknown): SendOutcome {
  const e = (error ?? {}) as { code?: unknown; originalCode?: unknown; responseCode?: unknown };
  if (typeof e.responseCode === "number" && e.responseCode >= 400) {
    // The server answered no (to RCPT, to DATA or to the message itself): it did not take it.
    const status = e.responseCode;
    const temporary = status < 500;
    return {
      ok: false,
      retryable: temporary,
      reason: temporary ? "deferred" : "rejected",
      status,
      notTaken: true,
    };
  }
  const code = typeof e.code === "string" ? e.code : "";
  const original = typeof e.originalCode === "string" ? e.originalCode : "";
  if (BEFORE_ANY_MAIL.has(code) || NOT_CONNECTED.has(original) || NOT_CONNECTED.has(code)) {
    return { ok: false, retryable: true, reason: "network", notTaken: true };
  }
  // A connection lost mid-conversation: the message may have been handed over.
  return { ok: false, retryable: true, reason: "network", maybeSent: true };
}
