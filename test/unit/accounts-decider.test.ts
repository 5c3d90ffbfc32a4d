import { describe, test } from "bun:test";
import {
  decideAccount,
  evolveAccount,
  initialAccountState,
  type RegisterUser,
} from "../../src/accounts/decider";
import { deciderSpec } from "../support/decider-spec";
import { registered } from "../support/event-fixtures";

const spec = deciderSpec({
  decide: decideAccount,
  evolve: evolveAccount,
  initialState: () => initialAccountState,
});

const register: RegisterUser = {
  type: "RegisterUser",
  userId: "u-1",
  sealedEmail: "sealed:email",
  sealedPasswordHash: "sealed:hash",
};

describe("register a user", () => {
  test("given a free email, then UserRegistered with only sealed personal data", () => {
    spec
      .given()
      .when(register, { emailTaken: false })
      .thenEquals([
        {
          type: "UserRegistered",
          data: { userId: "u-1", sealedEmail: "sealed:email", sealedPasswordHash: "sealed:hash" },
        },
      ]);
  });

  test("given the email is taken, then the registration is rejected", () => {
    spec
      .given()
      .when(register, { emailTaken: true })
      .thenEquals({ rejected: "email already registered" });
  });

  test("given the stream already holds a registration, then it is rejected", () => {
    spec
      .given(registered())
      .when(register, { emailTaken: false })
      .thenEquals({ rejected: "email already registered" });
  });
});
