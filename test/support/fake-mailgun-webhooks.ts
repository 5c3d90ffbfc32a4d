/**
 * Mailgun's delivery webhooks, as the fake Mailgun's side of them: signed reports on messages
 * the fake accepted (one per recipient, the message id without angle brackets), posted to the
 * service either on demand or for every accepted message, as Mailgun does.
 */
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import type { FakeMailgun, FakeMessage } from "./fake-mailgun";
import { type HttpAnswer, readAnswer, type Send } from "./http";

export const WEBHOOK_PATH = "/v1/webhooks/mailgun";

export type ReportEvent = "delivered" | "failed-permanent" | "failed-temporary" | "complained";

export type Poster = (body: unknown) => Promise<HttpAnswer>;

/** Posts to a running server. */
export const urlPoster =
  (baseUrl: string): Poster =>
  async (body) =>
    readAnswer(
      await fetch(`${baseUrl}${WEBHOOK_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );

/** Posts through an in-process app. */
export const appPoster =
  (send: Send): Poster =>
  (body) =>
    send("POST", WEBHOOK_PATH, body);

export const signWebhook = (key: string, timestamp: string, token: string) =>
  createHmac("sha256", key)
    .update(timestamp + token)
    .digest("hex");

export interface WebhookOptions {
  signingKey: string;
  message: Pick<FakeMessage, "id" | "fields">;
  event: ReportEvent;
  /** Defaults to the message's first `to`. */
  recipient?: string;
  /** event-data.id; a fresh one by default. */
  eventId?: string;
  /** Signature timestamp in seconds; now by default. */
  timestamp?: number;
  token?: string;
  /** Overrides the computed signature. */
  signature?: string;
}

/** The JSON body Mailgun posts for one event on one recipient of a message. */
export function webhookBody(options: WebhookOptions) {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const token = options.token ?? randomBytes(25).toString("hex");
  const recipient = options.recipient ?? options.message.fields.to?.[0] ?? "";
  const [event, severity] = options.event.split("-") as [string, string | undefined];
  const messageId = options.message.id.replace(/^<|>$/g, "");
  const failure =
    event === "failed"
      ? {
          severity,
          reason: severity === "permanent" ? "bounce" : "generic",
          "delivery-status": {
            code: severity === "permanent" ? 550 : 421,
            message: severity === "permanent" ? "5.1.1 user unknown" : "4.2.1 try later",
            description: "",
          },
        }
      : {};
  return {
    signature: {
      timestamp,
      token,
      signature: options.signature ?? signWebhook(options.signingKey, timestamp, token),
    },
    "event-data": {
      id: options.eventId ?? randomUUID(),
      event,
      timestamp: Date.now() / 1000,
      recipient,
      message: { headers: { "message-id": messageId, to: recipient } },
      ...failure,
    },
  };
}

export interface WebhookReporter {
  /** Every report posted automatically, with the service's answer once it came. */
  readonly posted: { body: ReturnType<typeof webhookBody>; answer?: HttpAnswer }[];
  stop(): void;
}

/**
 * From now on, every message the fake accepts is reported to the service, once per recipient.
 * `ready` holds a report back until the service can know the message (its Sent event recorded),
 * as Mailgun's SMTP round trip does in practice.
 */
export function reportAccepted(
  fake: FakeMailgun,
  options: {
    post: Poster;
    signingKey: string;
    event?: ReportEvent;
    ready?: (message: FakeMessage) => Promise<unknown>;
  },
): WebhookReporter {
  const posted: WebhookReporter["posted"] = [];
  fake.onAccepted = (message) => {
    for (const recipient of message.fields.to ?? []) {
      const entry: WebhookReporter["posted"][number] = {
        body: webhookBody({
          signingKey: options.signingKey,
          message,
          recipient,
          event: options.event ?? "delivered",
        }),
      };
      posted.push(entry);
      // After the send's answer, as Mailgun reports: never inside it.
      setTimeout(async () => {
        try {
          await options.ready?.(message);
          entry.answer = await options.post(entry.body);
        } catch {
          // The test waiting for the report's event fails with its own message.
        }
      }, 0);
    }
  };
  return {
    posted,
    stop() {
      fake.onAccepted = undefined;
    },
  };
}
