import { describe, expect, test } from "bun:test";
import type { UserEvent } from "../../events/user";
import {
  decideAccount,
  evolveAccount,
  initialAccountState,
  type RegisterUser,
} from "../../src/accounts/decider";

const register: RegisterUser = {
  type: "RegisterUser",
  userId: "u-1",
  sealedEmail: "sealed:email",
  sealedPasswordHash: "sealed:hash",
};

const given = (...events: UserEvent[]) => events.reduce(evolveAccount, initialAccountState);

describe("register a user", () => {
  test("given a free email, then UserRegistered with only sealed personal data", () => {
    expect(decideAccount(register, given(), { emailTaken: false })).toEqual([
      {
        type: "UserRegistered",
        data: { userId: "u-1", sealedEmail: "sealed:email", sealedPasswordHash: "sealed:hash" },
      },
    ]);
  });

  test("given the email is taken, then the registration is rejected", () => {
    expect(decideAccount(register, given(), { emailTaken: true })).toEqual({
      rejected: "email already registered",
    });
  });

  test("given the stream already holds a registration, then it is rejected", () => {
    const { type: _command, ...data } = register;
    const state = given({ type: "UserRegistered", data });
    expect(decideAccount(register, state, { emailTaken: false })).toEqual({
      rejected: "email already registered",
    });
  });
});
