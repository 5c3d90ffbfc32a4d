import { describe, expect, test } from "bun:test";
import { formatResetCode } from "../../projections/emails/code-format";
import {
  generateResetCode,
  isWellFormedResetCode,
  normaliseResetCode,
  RESET_CODE_ALPHABET,
  RESET_CODE_BITS,
  RESET_CODE_LENGTH,
} from "../../src/password-reset/code";

describe("reset code alphabet", () => {
  test("is Crockford base32: 32 distinct symbols without I, L, O, U", () => {
    expect(RESET_CODE_ALPHABET).toBe("0123456789ABCDEFGHJKMNPQRSTVWXYZ");
    expect(new Set(RESET_CODE_ALPHABET).size).toBe(32);
    for (const ambiguous of "ILOU") expect(RESET_CODE_ALPHABET).not.toContain(ambiguous);
  });
});

describe("generateResetCode", () => {
  test("has 20 characters from the alphabet, at least 80 bits", () => {
    const code = generateResetCode();
    expect(code).toHaveLength(RESET_CODE_LENGTH);
    expect(RESET_CODE_LENGTH).toBe(20);
    expect(RESET_CODE_BITS).toBeGreaterThanOrEqual(80);
    expect(RESET_CODE_LENGTH * Math.log2(RESET_CODE_ALPHABET.length)).toBeGreaterThanOrEqual(80);
    for (const char of code) expect(RESET_CODE_ALPHABET).toContain(char);
    expect(isWellFormedResetCode(code)).toBe(true);
  });

  test("does not repeat and uses the whole alphabet", () => {
    const codes = Array.from({ length: 2000 }, () => generateResetCode());
    expect(new Set(codes).size).toBe(codes.length);
    const seen = new Set(codes.join(""));
    expect([...seen].sort().join("")).toBe(RESET_CODE_ALPHABET);
  });
});

describe("formatResetCode", () => {
  test("groups in blocks of four joined by dashes", () => {
    expect(formatResetCode("ABCDEFGHJKMNPQRSTVWX")).toBe("ABCD-EFGH-JKMN-PQRS-TVWX");
  });

  test("is idempotent and tolerates a short last block", () => {
    expect(formatResetCode("ABCD-EFGH-JKMN-PQRS-TVWX")).toBe("ABCD-EFGH-JKMN-PQRS-TVWX");
    expect(formatResetCode("abcdefghj")).toBe("ABCD-EFGH-J");
  });
});

describe("normaliseResetCode", () => {
  test("round-trips a formatted code", () => {
    for (let i = 0; i < 100; i++) {
      const code = generateResetCode();
      expect(normaliseResetCode(formatResetCode(code))).toBe(code);
      expect(normaliseResetCode(formatResetCode(code).toLowerCase())).toBe(code);
    }
  });

  test("strips dashes and spaces and upper-cases", () => {
    expect(normaliseResetCode(" abcd-efgh jkmn - pqrs tvwx ")).toBe("ABCDEFGHJKMNPQRSTVWX");
  });

  test("reads I and L as 1 and O as 0", () => {
    expect(normaliseResetCode("iLoO-1100")).toBe("11001100");
  });

  test("keeps U so the code is rejected as malformed", () => {
    const typed = normaliseResetCode("UBCD-EFGH-JKMN-PQRS-TVWX");
    expect(typed).toBe("UBCDEFGHJKMNPQRSTVWX");
    expect(isWellFormedResetCode(typed)).toBe(false);
  });

  test("isWellFormedResetCode checks the length", () => {
    expect(isWellFormedResetCode("ABCD")).toBe(false);
    expect(isWellFormedResetCode(`${generateResetCode()}0`)).toBe(false);
  });
});
