import type { Mailer, MailMessage, SendOutcome } from "./mailer";

export function createConsoleMailer(
  write: (s: string) => unknown = (s: string) => process.stdout.write(s),
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
      return { ok: true, providerMessageId };
    },
  };
}
