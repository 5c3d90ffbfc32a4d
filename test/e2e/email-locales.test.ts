import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmailCatalog } from "../../projections/emails/catalog";
import { formatResetCode } from "../../projections/emails/code-format";
import { SHIPPED_LOCALES } from "../../projections/emails/translations";
import { generateResetCode } from "../../src/password-reset/code";
import { browserInstalled, closeBrowser, openPage } from "../support/browser";
import { refusesToStart } from "../support/e2e";

afterAll(closeBrowser);

const emails = new EmailCatalog({
  from: "no-reply@example.test",
  product: "reset-ledger",
  defaultLocale: "en",
});

describe.skipIf(!browserInstalled)(
  "each shipped locale's reset email, rendered in chromium",
  () => {
    test("ships en, de, fr, es, pt-BR, it, ja and ar", () => {
      expect([...SHIPPED_LOCALES].sort()).toEqual(
        ["ar", "de", "en", "es", "fr", "it", "ja", "pt-BR"].sort(),
      );
    });

    test.each(SHIPPED_LOCALES)("%s shows the code, laid out in its direction", async (locale) => {
      const shown = formatResetCode(generateResetCode());
      const message = emails.reset(locale, shown, 10);
      const session = await openPage("http://127.0.0.1:9");
      try {
        await session.page.setContent(message.html);
        // The page's own script, as a string: this project's types have no DOM.
        const seen = (await session.page.evaluate(`(() => {
        const code = document.querySelector(".code");
        return {
          lang: document.documentElement.lang,
          body: getComputedStyle(document.body).direction,
          code: getComputedStyle(code).direction,
          codeText: code.innerText,
          visible: document.body.innerText,
        };
      })()`)) as { lang: string; body: string; code: string; codeText: string; visible: string };
        expect(seen.lang).toBe(locale);
        expect(seen.codeText).toBe(shown);
        expect(seen.visible).toContain(shown);
        expect(seen.code).toBe("ltr");
        expect(seen.body).toBe(locale === "ar" ? "rtl" : "ltr");
        expect(session.blocked).toEqual([]);
        expect(session.errors).toEqual([]);
      } finally {
        await session.close();
      }
    });
  },
);

describe("a broken template stops start-up naming its file", () => {
  const templates = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "mail-templates-"));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return dir;
  };

  test.each([
    ["reset.de.html", "<html><body><p>{{code}}</body></html>", "</body> closes <p>"],
    ["reset.fr.txt", "Votre code : {{code}} pour {{produit}}", "unknown placeholder {{produit}}"],
    ["reset.en.txt", "There is no code here.", "missing placeholder {{code}}"],
    ["password-changed.es.subject", "Code {{code}}", "unknown placeholder {{code}}"],
    [
      "reset.nl.subject",
      "Stel je wachtwoord opnieuw in",
      "reset.nl.txt: missing (nl is not shipped)",
    ],
    ["rest.en.subject", "Reset", "expected <kind>.<locale>.<subject|txt|html>"],
  ])("%s", async (name, content, problem) => {
    const dir = templates({ [name]: content });
    const line = await refusesToStart({ MAIL_TEMPLATES_DIR: dir }, "MAIL_TEMPLATES_DIR");
    expect(line).toContain(join(dir, name.split(".").slice(0, 2).join(".")));
    expect(line).toContain(problem);
  });

  test.each([
    ["nl", 'no emails in "nl"'],
    ["not a tag", "not a BCP 47 language tag"],
  ])("MAIL_DEFAULT_LOCALE=%s", async (locale, problem) => {
    const line = await refusesToStart({ MAIL_DEFAULT_LOCALE: locale }, "MAIL_DEFAULT_LOCALE");
    expect(line).toContain(problem);
  });
});
