/** When a presented session is over, and when its last use is written (README: Security). */
import { describe, expect, test } from "bun:test";
import { isSessionId, lastUseIsStale, sessionStatus } from "../../src/accounts/session-rules";

const now = Date.parse("2026-12-01T12:00:00Z");
const IDLE = 30 * 60_000;
const ago = (ms: number) => new Date(now - ms);
const live = {
  expiresAt: new Date(now + 3600_000),
  lastUsedAt: ago(60_000),
  passwordUnchanged: true,
};

describe("sessionStatus", () => {
  test("live while used within the idle timeout, before its expiry, under the same password", () => {
    expect(sessionStatus(live, now, IDLE)).toBe("live");
    expect(sessionStatus({ ...live, lastUsedAt: ago(IDLE - 1) }, now, IDLE)).toBe("live");
  });
  test("idle once unused for the whole timeout", () => {
    expect(sessionStatus({ ...live, lastUsedAt: ago(IDLE) }, now, IDLE)).toBe("idle");
  });
  test("expired at its absolute end, whatever its use", () => {
    expect(sessionStatus({ ...live, expiresAt: new Date(now) }, now, IDLE)).toBe("expired");
  });
  test("a changed password ends it first of all", () => {
    const over = { expiresAt: new Date(now), lastUsedAt: ago(IDLE * 2), passwordUnchanged: false };
    expect(sessionStatus(over, now, IDLE)).toBe("reset");
  });
});

describe("lastUseIsStale", () => {
  test("written once a minute old", () => {
    expect(lastUseIsStale(ago(59_999), now, IDLE)).toBe(false);
    expect(lastUseIsStale(ago(60_000), now, IDLE)).toBe(true);
  });
  test("a quarter of a short idle timeout, so a session in use never idles out", () => {
    expect(lastUseIsStale(ago(749), now, 3000)).toBe(false);
    expect(lastUseIsStale(ago(750), now, 3000)).toBe(true);
  });
});

test("isSessionId: UUIDs only", () => {
  expect(isSessionId("0193b8f3-1d2e-7a4b-8c5d-6e7f8091a2b3")).toBe(true);
  expect(isSessionId("0193B8F3-1D2E-7A4B-8C5D-6E7F8091A2B3")).toBe(true);
  for (const bad of ["", "x", "0193b8f3-1d2e-7a4b-8c5d-6e7f8091a2b3x", "' OR 1=1 --"]) {
    expect(isSessionId(bad)).toBe(false);
  }
});
