import { describe, expect, test } from "bun:test";
import { randomUUID } from "node:crypto";
import { passwordResetStreamPrefix, resetAttemptsStreamPrefix } from "../../events/password-reset";
import { userOfStream, userStreamId } from "../../events/user";

describe("user streams", () => {
  test("a user's stream names that user back", () => {
    const userId = randomUUID();
    expect(userOfStream(userStreamId(userId))).toBe(userId);
  });

  test("a stream of another family names no user", () => {
    const id = randomUUID();
    expect(userOfStream(`${passwordResetStreamPrefix}${id}`)).toBeUndefined();
    expect(userOfStream(`${resetAttemptsStreamPrefix}${id}`)).toBeUndefined();
    expect(userOfStream(id)).toBeUndefined();
  });
});
