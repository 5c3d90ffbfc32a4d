import type { MailMessage } from "./mailer";

/** A message the console mailer "sent", as its recipient would have received it. */
export interface CaughtMail extends MailMessage {
  /** Increasing from 1 in this process: a newer message has a greater id. */
  id: number;
  sentAt: Date;
  providerMessageId: string;
}

export const MAIL_CATCHER_CAPACITY = 100;

/** The last emails the console mailer "sent", in memory only; the oldest goes first when full. */
export class MailCatcher {
  private readonly kept: CaughtMail[] = [];
  private lastId = 0;

  constructor(readonly capacity = MAIL_CATCHER_CAPACITY) {}

  keep(message: MailMessage, providerMessageId: string, sentAt = new Date()): CaughtMail {
    const caught: CaughtMail = {
      ...message,
      tags: [...message.tags],
      id: ++this.lastId,
      sentAt,
      providerMessageId,
    };
    this.kept.push(caught);
    while (this.kept.length > this.capacity) this.kept.shift();
    return caught;
  }

  /** Newest first. */
  list(): CaughtMail[] {
    return this.kept.toReversed();
  }
}
