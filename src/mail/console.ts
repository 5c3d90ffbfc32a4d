import type { MailCatcher } from "./catcher";
import type { Mailer, MailMessage, SendOutcome } from "./mailer";

/** Prints each email instead of sending it, and keeps it in `catcher` when given. */
export function createConsoleMailer(
  write: (s: string) => unknown = (s: string) => process.stdout.write(s),
  catcher?: MailCatcher,
): Mailer {
  return {
    name: "console",
    async send(message: MailMessage, _timeoutMs: number): Promise<SendOutcome> {
      const providerMessageId = `console-${crypto.randomUUID()}`;
      const block = [
        `----- email ${providerMessageId} (console mailer, not sent) -----`,
        `From: ${message.from}`,
        `To: ${message.to}`,
        `Subject: ${message.subject}`,
        `Tags: ${message.tags.join(", ")}`,
        "",
        message.text.trimEnd(),
        "----- end of email -----",
        "",
      ].join("\n");
      try {
        // One write per message so concurrent sends never interleave their lines.
        write(block);
      } catch {
        return { ok: false, retryable: false, reason: "console-write-failed" };
      }
      catcher?.keep(message, providerMessageId);
      return { ok: true, providerMessageId };
    },
  };
}
