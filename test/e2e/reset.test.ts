/**
 * A password reset end to end (README: API, Security): the server is `bun src/main.ts` in a
 * child process, Mailgun is the loopback fake in this process, and the code is read from the
 * email the fake received, exactly as a user would read it.
 */
import { describe, expect, test } from "bun:test";
import { badBodies, sendBadBody } from "../support/bad-bodies";
import {
  codeForms,
  codeOf,
  expectAnswer,
  expectError,
  expectNoCodesIn,
  messagesTo,
  PASSWORD,
  register,
  SENT_BODY,
  trigger,
  uniqueEmail,
  useServer,
} from "../support/e2e";
import { type FakeMessage, firstField } from "../support/fake-mailgun";
import { readAnswer } from "../support/http";
import { postJson } from "../support/server";

const RESET = "/v1/auth/password-reset/reset";
const LOGIN = "/v1/auth/login";
const NEW_PASSWORD = "Brand-N3w-Passw0rd!";

const { deployment, server } = useServer();

const login = (email: string, password: string) =>
  postJson(`${server.url}${LOGIN}`, { email, password });

async function me(authorization?: string) {
  const response = await fetch(`${server.url}/v1/auth/me`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  return readAnswer(response);
}

const tagOf = (m: FakeMessage) => m.fields["o:tag"] ?? [];

describe("register → login → trigger → reset with the emailed code", () => {
  test("the whole journey, as a user lives it", async () => {
    const { fake } = deployment;
    const email = uniqueEmail("journey");
    const user = await register(server.url, email);

    const first = await login(email, PASSWORD);
    expect(first.status).toBe(200);
    const tokenA = (first.json as { token: string }).token;
    const before = await me(`Bearer ${tokenA}`);
    expectAnswer(before, 200, { user: { id: user.id, email, created_at: expect.any(String) } });

    expectAnswer(await trigger(server.url, email), 200, SENT_BODY);
    const resetMails = messagesTo(fake, email).filter((m) => tagOf(m).includes("password-reset"));
    expect(resetMails).toHaveLength(1);
    const mail = resetMails[0] as FakeMessage;
    // The code is the one line of the text part that looks like one (CRLF-tolerant).
    const lines = (firstField(mail.fields, "text") ?? "").split(/\r?\n/);
    const shown = lines.filter((l) => /^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$/.test(l));
    expect(shown).toHaveLength(1);
    expect(shown[0]).toBe(codeOf(mail));
    const typed = (shown[0] as string).toLowerCase().replaceAll("-", "");

    const reset = await postJson(`${server.url}${RESET}`, {
      code: typed,
      new_password: NEW_PASSWORD,
    });
    expect(reset.text).toBe(JSON.stringify({ message: "password reset successfully", email }));
    expectAnswer(reset, 200, { message: "password reset successfully", email });

    expect((await login(email, NEW_PASSWORD)).status).toBe(200);
    expectError(await login(email, PASSWORD), 401, "invalid credentials");
    expectError(await me(`Bearer ${tokenA}`), 401, "unauthorized");

    // The notice reaches the owner; it carries neither the code nor a password.
    await fake.waitFor(
      (messages) =>
        messages.some(
          (m) => firstField(m.fields, "to") === email && tagOf(m).includes("password-changed"),
        ),
      15_000,
    );
    const notices = messagesTo(fake, email).filter((m) => tagOf(m).includes("password-changed"));
    expect(notices).toHaveLength(1);
    const notice = notices[0] as FakeMessage;
    expect(firstField(notice.fields, "subject")).toBe("Your password was changed");
    expect(firstField(notice.fields, "from")).toBe(`no-reply@${fake.domain}`);
    const everything = JSON.stringify(notice.fields);
    for (const secret of [...codeForms(shown[0] as string), NEW_PASSWORD, PASSWORD]) {
      expect(everything).not.toContain(secret);
    }

    // The code was used up: the same code again is refused.
    expectError(
      await postJson(`${server.url}${RESET}`, {
        code: shown[0],
        new_password: "An0ther-Passw0rd!",
      }),
      400,
      "invalid or expired password reset code",
    );
    const resetCodes = fake.messages.filter((m) => tagOf(m).includes("password-reset")).map(codeOf);
    expectNoCodesIn(server.output(), resetCodes);
  });
});

describe("authentication answers", () => {
  test("GET /v1/auth/me without a token → 401 unauthorized", async () => {
    expectError(await me(), 401, "unauthorized");
  });

  const garbage: [string, string][] = [
    ["a garbage token", "Bearer not-a-token"],
    ["a well-formed unknown token", `Bearer ${"A".repeat(43)}`],
    ["another scheme", "Basic dXNlcjpwYXNz"],
    ["the scheme alone", "Bearer "],
  ];
  for (const [name, authorization] of garbage) {
    test(`GET /v1/auth/me with ${name} → 401 unauthorized`, async () => {
      expectError(await me(authorization), 401, "unauthorized");
    });
  }

  test("login with an unknown email → 401 invalid credentials, the same body as a wrong password", async () => {
    const email = uniqueEmail("known");
    await register(server.url, email);
    const unknown = await login(uniqueEmail("unknown"), PASSWORD);
    const wrong = await login(email, "Wr0ng-Passw0rd!");
    expectError(unknown, 401, "invalid credentials");
    expectError(wrong, 401, "invalid credentials");
    expect(unknown.text).toBe(wrong.text);
  });
});

describe("bad bodies", () => {
  for (const path of [RESET, LOGIN]) {
    for (const bad of badBodies) {
      test(`${path}: ${bad.name} → ${bad.status}`, async () => {
        const res = await sendBadBody(server.url, path, bad);
        expect(res.status).toBe(bad.status);
        expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
        expect(await res.json()).toEqual({
          error: bad.status === 413 ? "request body too large" : "invalid request body",
        });
      });
    }
  }
});
