import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { SHOWN_CODE } from "./e2e";

export const SMTP_USER = "reset-ledger";
export const SMTP_PASSWORD = "smtp-test-password";

export interface CaughtMail {
  from: string;
  to: string[];
  /** Its Message-ID header, as the sender reports it (`<…>`). */
  messageId: string;
  raw: string;
}

export interface SmtpCatcher {
  /** `smtp://user:password@127.0.0.1:port` for SMTP_URL. */
  readonly url: string;
  readonly mails: readonly CaughtMail[];
  /** RCPT TO for these addresses is answered 550. */
  refuseRecipients(addresses: readonly string[]): void;
  mailsTo(address: string): CaughtMail[];
  stop(): Promise<void>;
}

/** The codes a caught email shows: each line that is exactly a code (text part, decoded or not). */
export function codesIn(mail: CaughtMail): string[] {
  const lines = mail.raw.split(/\r?\n/).map((line) => line.trim());
  return [...new Set(lines.filter((line) => SHOWN_CODE.test(line)))];
}

/** A real SMTP server (the smtp-server package) on loopback that keeps what it accepts. */
export async function startSmtpCatcher(): Promise<SmtpCatcher> {
  const mails: CaughtMail[] = [];
  const refused = new Set<string>();
  const server = new SMTPServer({
    // Plain loopback in tests; TLS is nodemailer's own, tested upstream.
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) {
        callback(null, { user: auth.username });
      } else {
        callback(new Error("invalid credentials"));
      }
    },
    onRcptTo(address, _session, callback) {
      if (refused.has(address.address)) {
        callback(Object.assign(new Error("no such mailbox"), { responseCode: 550 }));
      } else {
        callback();
      }
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const from = session.envelope.mailFrom;
        const raw = Buffer.concat(chunks).toString("utf8");
        mails.push({
          from: from === false ? "" : from.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          messageId: raw.match(/^Message-ID:\s*(\S+)/im)?.[1] ?? "",
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${SMTP_USER}:${SMTP_PASSWORD}@127.0.0.1:${port}`,
    mails,
    refuseRecipients(addresses) {
      for (const address of addresses) refused.add(address);
    },
    mailsTo: (address) => mails.filter((m) => m.to.includes(address)),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
