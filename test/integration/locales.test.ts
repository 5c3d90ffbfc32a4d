import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { resetStreamOf } from "../../src/password-reset/streams";
import { codeOf, freshIp, messagesTo, uniqueEmail } from "../support/e2e";
import { firstField } from "../support/fake-mailgun";
import { runtimeWithFakeMailgun } from "../support/runtime";
import { waitFor } from "../support/wait";

const password = "Tr1cky-Passw0rd";
const fixture = runtimeWithFakeMailgun({ TRUST_PROXY: "true" });

const register = (body: Record<string, unknown>) =>
  fixture.t.request("POST", "/v1/auth/register", { password, ...body });

const trigger = (email: string, headers: Record<string, string> = {}) =>
  fixture.t.request(
    "POST",
    "/v1/auth/password-reset/trigger",
    { email },
    { "x-forwarded-for": freshIp(), ...headers },
  );

async function eventsOf(streamId: string) {
  const { rows } = await sql<{ type: string; data: Record<string, unknown> }>`
    select type, data from events where stream_id = ${streamId} order by stream_version`.execute(
    fixture.t.runtime.db,
  );
  return rows;
}

async function resetEmailTo(email: string, headers: Record<string, string> = {}) {
  const res = await trigger(email, headers);
  expect(res.status).toBe(200);
  const [message] = messagesTo(fixture.fake, email);
  if (!message) throw new Error(`no email to ${email}`);
  return {
    subject: firstField(message.fields, "subject") ?? "",
    text: firstField(message.fields, "text") ?? "",
    html: firstField(message.fields, "html") ?? "",
    code: codeOf(message),
    events: await eventsOf(await resetStreamOf(fixture.t.runtime, email)),
  };
}

const localesOf = (events: { type: string; data: Record<string, unknown> }[]) =>
  Object.fromEntries(events.map((e) => [e.type, e.data.locale]));

describe("the reset email's language", () => {
  test("an account registered with de gets German, whatever the request asks", async () => {
    const email = uniqueEmail("de");
    expect((await register({ email, locale: "de" })).status).toBe(201);
    const sent = await resetEmailTo(email, { "accept-language": "fr" });
    expect(sent.subject).toBe("Setzen Sie Ihr Passwort zurück");
    expect(sent.text).toContain("Geben Sie diesen Code ein");
    expect(sent.text).toContain("10 Minuten");
    expect(sent.html).toContain('<html lang="de" dir="ltr">');
    expect(sent.html).toContain(sent.code);
    expect(localesOf(sent.events)).toMatchObject({
      PasswordResetRequested: "de",
      PasswordResetEmailSent: "de",
    });
  });

  test("an account without a locale gets the best of the request's Accept-Language", async () => {
    const email = uniqueEmail("fr");
    expect((await register({ email })).status).toBe(201);
    const sent = await resetEmailTo(email, {
      "accept-language": "nl;q=0.9, fr-CA;q=0.8, en;q=0.5",
    });
    expect(sent.subject).toBe("Réinitialisez votre mot de passe");
    expect(sent.text).toContain("Saisissez ce code");
    expect(localesOf(sent.events)).toMatchObject({ PasswordResetEmailSent: "fr" });
  });

  test("Accept-Language: fr gets French; none gets the default, English", async () => {
    const french = uniqueEmail("fr-plain");
    const plain = uniqueEmail("none");
    await register({ email: french });
    await register({ email: plain });
    expect((await resetEmailTo(french, { "accept-language": "fr" })).subject).toBe(
      "Réinitialisez votre mot de passe",
    );
    const english = await resetEmailTo(plain);
    expect(english.subject).toBe("Reset your password");
    expect(localesOf(english.events)).toMatchObject({ PasswordResetEmailSent: "en" });
  });

  test("the locale is stored canonical and sealed, in the event and the read model", async () => {
    const email = uniqueEmail("pt");
    const res = await register({ email, locale: "pt-br" });
    expect(res.status).toBe(201);
    const userId = (res.json as { user: { id: string } }).user.id;
    const { rows } = await sql<{ data: Record<string, unknown> }>`
      select data from events where stream_id = ${`user-${userId}`} and type = 'UserRegistered'`.execute(
      fixture.t.runtime.db,
    );
    const sealedLocale = rows[0]?.data.sealedLocale;
    expect(typeof sealedLocale).toBe("string");
    expect(sealedLocale).not.toContain("pt");
    const user = await fixture.t.runtime.db
      .selectFrom("users")
      .select("sealed_locale")
      .where("id", "=", userId)
      .executeTakeFirstOrThrow();
    expect(user.sealed_locale).toBe(sealedLocale as string);
    expect(await fixture.t.runtime.dataKeys.unseal(userId, user.sealed_locale as string)).toBe(
      "pt-BR",
    );
    expect((await resetEmailTo(email)).subject).toBe("Redefina sua senha");
  });

  test("the password-changed notice is in the account's language", async () => {
    const email = uniqueEmail("it");
    await register({ email, locale: "it" });
    const { code } = await resetEmailTo(email);
    const reset = await fixture.t.request(
      "POST",
      "/v1/auth/password-reset/reset",
      { code, new_password: "An0ther-Passw0rd!" },
      { "x-forwarded-for": freshIp() },
    );
    expect(reset.status).toBe(200);
    const notice = await waitFor(() =>
      messagesTo(fixture.fake, email).find(
        (m) => firstField(m.fields, "subject") === "La tua password è stata modificata",
      ),
    );
    expect(firstField(notice.fields, "html")).toContain('<html lang="it" dir="ltr">');
  });

  test("without an account locale, the notice speaks the reset email's language", async () => {
    const email = uniqueEmail("es");
    const userId = ((await register({ email })).json as { user: { id: string } }).user.id;
    const { code, subject } = await resetEmailTo(email, { "accept-language": "es-MX, en;q=0.5" });
    expect(subject).toBe("Restablece tu contraseña");
    const reset = await fixture.t.request(
      "POST",
      "/v1/auth/password-reset/reset",
      { code, new_password: "An0ther-Passw0rd!" },
      { "x-forwarded-for": freshIp(), "accept-language": "ja" },
    );
    expect(reset.status).toBe(200);
    await waitFor(() =>
      messagesTo(fixture.fake, email).find(
        (m) => firstField(m.fields, "subject") === "Tu contraseña ha cambiado",
      ),
    );
    const notice = await waitFor(async () => {
      const { rows } = await sql<{ data: Record<string, unknown> }>`
        select data from events where stream_id = ${`user-${userId}`}
          and type = 'PasswordChangedNoticeSent'`.execute(fixture.t.runtime.db);
      return rows[0];
    });
    expect(notice.data.locale).toBe("es");
  });

  test.each([
    ["not a tag at all", "locale must be a BCP 47 language tag, such as en, de or pt-BR"],
    [42, "locale must be a BCP 47 language tag, such as en, de or pt-BR"],
    ["", "locale must be a BCP 47 language tag, such as en, de or pt-BR"],
  ])("register refuses locale %p with 400 and creates nothing", async (locale, error) => {
    const email = uniqueEmail("bad-locale");
    const res = await register({ email, locale });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error });
    expect((await register({ email })).status).toBe(201);
  });
});

describe("a deployment's templates", () => {
  const dir = mkdtempSync(join(tmpdir(), "mail-templates-"));
  writeFileSync(join(dir, "reset.en.subject"), "Your {{product}} code\n");
  const custom = runtimeWithFakeMailgun({
    MAIL_TEMPLATES_DIR: dir,
    MAIL_PRODUCT_NAME: "Acme <Pay>",
  });

  test("reset.en.subject replaces the subject; the rest stays shipped, the name escaped in HTML", async () => {
    const email = uniqueEmail("custom");
    expect((await custom.t.request("POST", "/v1/auth/register", { email, password })).status).toBe(
      201,
    );
    const res = await custom.t.request("POST", "/v1/auth/password-reset/trigger", { email });
    expect(res.status).toBe(200);
    const [message] = messagesTo(custom.fake, email);
    if (!message) throw new Error("no email");
    expect(firstField(message.fields, "subject")).toBe("Your Acme <Pay> code");
    expect(firstField(message.fields, "text")).toContain("your Acme <Pay> account");
    expect(firstField(message.fields, "html")).toContain("your Acme &lt;Pay&gt; account");
  });
});
