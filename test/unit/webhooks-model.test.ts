import { describe, expect, test } from "bun:test";
import {
  isAuthentic,
  MAX_SKEW_MS,
  parseReport,
  parseSignature,
  signatureOf,
} from "../../src/webhooks/model";

const KEY = "key-unit-test";
const NOW = 1_764_500_000_000;
const signed = (timestamp: string, token = "tok-1") => ({
  timestamp,
  token,
  signature: signatureOf(KEY, timestamp, token),
});

describe("signature", () => {
  test("authentic within five minutes either way, not a millisecond beyond", () => {
    const at = (ms: number) => String(Math.round(ms / 1000));
    expect(isAuthentic([KEY], signed(at(NOW)), NOW)).toBe(true);
    expect(isAuthentic([KEY], signed(at(NOW - MAX_SKEW_MS)), NOW)).toBe(true);
    expect(isAuthentic([KEY], signed(at(NOW + MAX_SKEW_MS)), NOW)).toBe(true);
    expect(isAuthentic([KEY], signed(at(NOW - MAX_SKEW_MS - 1000)), NOW)).toBe(false);
    expect(isAuthentic([KEY], signed(at(NOW + MAX_SKEW_MS + 1000)), NOW)).toBe(false);
  });

  test("another key, token or timestamp breaks it", () => {
    const s = signed(String(NOW / 1000));
    expect(isAuthentic(["other"], s, NOW)).toBe(false);
    expect(isAuthentic([KEY], { ...s, token: "tok-2" }, NOW)).toBe(false);
    expect(isAuthentic([KEY], { ...s, timestamp: String(NOW / 1000 + 1) }, NOW)).toBe(false);
    expect(isAuthentic([KEY], { ...s, signature: s.signature.slice(1) }, NOW)).toBe(false);
  });

  test("two keys while Mailgun's is rotated: either one signs, a third does not", () => {
    const s = signed(String(NOW / 1000));
    expect(isAuthentic(["new-key", KEY], s, NOW)).toBe(true);
    expect(isAuthentic([KEY, "new-key"], s, NOW)).toBe(true);
    expect(isAuthentic(["new-key", "older-key"], s, NOW)).toBe(false);
    expect(isAuthentic([], s, NOW)).toBe(false);
  });

  test("a malformed signature object is no signature", () => {
    expect(parseSignature({})).toBeUndefined();
    expect(
      parseSignature({ signature: { timestamp: "1", token: "", signature: "x" } }),
    ).toBeUndefined();
    expect(
      parseSignature({ signature: { timestamp: "1e9", token: "t", signature: "x" } }),
    ).toBeUndefined();
    expect(parseSignature({ signature: { timestamp: 17, token: "t", signature: "x" } })).toEqual({
      timestamp: "17",
      token: "t",
      signature: "x",
    });
  });
});

describe("reports", () => {
  const base = {
    id: "ev-1",
    timestamp: NOW / 1000,
    recipient: " User@Example.COM",
    message: { headers: { "message-id": "<20261130.abc@mg.example.test>" } },
  };

  test("delivered, failed permanent/temporary and complained; other events ignored", () => {
    expect(parseReport({ ...base, event: "delivered" })).toEqual({
      reportId: "ev-1",
      kind: "delivered",
      messageId: "20261130.abc@mg.example.test",
      recipient: "user@example.com",
      reportedAt: new Date(NOW).toISOString(),
    });
    expect(
      parseReport({
        ...base,
        event: "failed",
        severity: "permanent",
        reason: "bounce",
        "delivery-status": { code: 550, message: "user@example.com unknown" },
      }),
    ).toMatchObject({ kind: "bounced", reason: "bounce", code: 550 });
    expect(parseReport({ ...base, event: "failed", severity: "temporary" })).toMatchObject({
      kind: "deferred",
    });
    expect(parseReport({ ...base, event: "complained" })).toMatchObject({ kind: "complained" });
    for (const event of ["opened", "clicked", "accepted", "unsubscribed"]) {
      expect(parseReport({ ...base, event })).toBe("ignored");
    }
    expect(parseReport({ ...base, event: "failed", severity: "weird" })).toBe("ignored");
  });

  test("a kept event without its id, recipient or message id is malformed", () => {
    expect(parseReport({ ...base, event: "delivered", id: undefined })).toBeUndefined();
    expect(parseReport({ ...base, event: "delivered", recipient: 7 })).toBeUndefined();
    expect(parseReport({ ...base, event: "delivered", message: {} })).toBeUndefined();
    expect(parseReport([])).toBeUndefined();
  });
});
