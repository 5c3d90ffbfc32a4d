import { createHmac } from "node:crypto";
import { normaliseEmail } from "../accounts/rules";
import { constantTimeEqual } from "../privacy";

/** Mailgun refuses nothing older; we refuse a timestamp further than this from our clock. */
export const MAX_SKEW_MS = 5 * 60 * 1000;

export interface WebhookSignature {
  timestamp: string;
  token: string;
  signature: string;
}

export type ReportKind = "delivered" | "bounced" | "deferred" | "complained";

/** One webhook event, reduced to what the log keeps and what finds its stream. */
export interface DeliveryReport {
  reportId: string;
  kind: ReportKind;
  /** Without angle brackets, as the webhook gives it. */
  messageId: string;
  /** Normalised like every email here; used to find the stream, never recorded. */
  recipient: string;
  reportedAt: string;
  reason?: string;
  code?: number;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const text = (value: unknown, max: number): string | undefined =>
  typeof value === "string" && value.length > 0 && value.length <= max ? value : undefined;

/** The `signature` object, or undefined when it is missing or malformed. */
export function parseSignature(body: Record<string, unknown>): WebhookSignature | undefined {
  const s = body.signature;
  if (!isObject(s)) return undefined;
  const timestamp = typeof s.timestamp === "number" ? String(s.timestamp) : s.timestamp;
  if (typeof timestamp !== "string" || !/^\d{1,12}$/.test(timestamp)) return undefined;
  const token = text(s.token, 256);
  const signature = text(s.signature, 256);
  if (token === undefined || signature === undefined) return undefined;
  return { timestamp, token, signature };
}

export const signatureOf = (key: string, timestamp: string, token: string) =>
  createHmac("sha256", key)
    .update(timestamp + token)
    .digest("hex");

/**
 * Signed under one of `keys` (two while Mailgun's is rotated), each compared in constant time
 * and every one compared, and within MAX_SKEW_MS of `nowMs`.
 */
export function isAuthentic(keys: readonly string[], s: WebhookSignature, nowMs: number): boolean {
  const given = s.signature.toLowerCase();
  let signed = false;
  for (const key of keys) {
    const equal = constantTimeEqual(given, signatureOf(key, s.timestamp, s.token));
    signed = signed || equal;
  }
  return signed && Math.abs(nowMs - Number(s.timestamp) * 1000) <= MAX_SKEW_MS;
}

function kindOf(event: unknown, severity: unknown): ReportKind | undefined {
  if (event === "delivered") return "delivered";
  if (event === "complained") return "complained";
  if (event === "failed") {
    if (severity === "permanent") return "bounced";
    if (severity === "temporary") return "deferred";
  }
  return undefined;
}

/**
 * The report in `event-data`: "ignored" for events the log does not keep (opened, clicked …),
 * undefined when a kept event lacks what identifies it.
 */
export function parseReport(eventData: unknown): DeliveryReport | "ignored" | undefined {
  if (!isObject(eventData)) return undefined;
  const kind = kindOf(eventData.event, eventData.severity);
  if (kind === undefined) return "ignored";
  const reportId = text(eventData.id, 256);
  const recipient = text(eventData.recipient, 320);
  const message = isObject(eventData.message) ? eventData.message : {};
  const headers = isObject(message.headers) ? message.headers : {};
  const messageId = text(headers["message-id"], 998)?.trim().replace(/^<|>$/g, "");
  const seconds = eventData.timestamp;
  if (!reportId || !recipient || !messageId || typeof seconds !== "number") return undefined;
  const at = new Date(seconds * 1000);
  if (Number.isNaN(at.getTime())) return undefined;

  const report: DeliveryReport = {
    reportId,
    kind,
    messageId,
    recipient: normaliseEmail(recipient),
    reportedAt: at.toISOString(),
  };
  if (kind === "bounced" || kind === "deferred") {
    const reason = text(eventData.reason, 64);
    if (reason !== undefined && /^[a-z0-9_-]+$/i.test(reason)) report.reason = reason;
    const status = isObject(eventData["delivery-status"]) ? eventData["delivery-status"] : {};
    if (typeof status.code === "number" && Number.isInteger(status.code)) report.code = status.code;
  }
  return report;
}
