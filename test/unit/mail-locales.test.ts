import { describe, expect, test } from "bun:test";
import { EMAIL_KINDS, EmailCatalog } from "../../projections/emails/catalog";
import { SHIPPED_LOCALES } from "../../projections/emails/translations";
import { canonicalLocale, negotiateLocale } from "../../src/mail/locale";
import { htmlProblem, renderTemplate, templateProblem } from "../../src/mail/templates";

const shipped = ["en", "de", "fr", "es", "pt-BR", "it", "ja", "ar"];

describe("canonicalLocale", () => {
  test.each([
    ["pt-br", "pt-BR"],
    ["EN", "en"],
    ["zh-hant-tw", "zh-Hant-TW"],
  ])("%s is %s", (tag, canonical) => expect(canonicalLocale(tag)).toBe(canonical));

  test.each(["", "not a tag", "en_US_", "x", "a".repeat(100)])("%p is none", (tag) =>
    expect(canonicalLocale(tag)).toBeUndefined(),
  );
});

describe("negotiateLocale", () => {
  test.each([
    ["fr", "fr"],
    ["nl, fr;q=0.5, de;q=0.8", "de"],
    ["de-AT", "de"],
    ["pt", "pt-BR"],
    ["PT-br", "pt-BR"],
    ["en;q=0.1, ja;q=0.9", "ja"],
    ["ar;q=0, fr;q=0.2", "fr"],
    ["es;q=1.0, it;q=1", "es"],
    ["it;q=2, es;q=0.3", "es"],
  ])("%p picks %s", (header, locale) => expect(negotiateLocale(header, shipped)).toBe(locale));

  test.each([null, "", "nl, sv", "*", "fr;q=0"])("%p picks none", (header) =>
    expect(negotiateLocale(header, shipped)).toBeUndefined(),
  );
});

describe("htmlProblem", () => {
  test.each([
    "<!doctype html><html><head><meta charset=utf-8><title>t</title></head><body><p>a<br>b</p><img src=x /></body></html>",
    "<p>1 < 2 <!-- <b> --></p><style>p > b {}</style>",
  ])("%p is well formed", (html) => expect(htmlProblem(html)).toBeUndefined());

  test.each([
    ["<p><b>x</p></b>", "</p> closes <b>"],
    ["<div>", "<div> is never closed"],
    ["</div>", "</div> closes nothing"],
    ["<p>x</p><a href='x'", "a tag is not closed by >"],
  ])("%p: %s", (html, problem) => expect(htmlProblem(html)).toBe(problem));
});

describe("templates", () => {
  test("every shipped template passes the checks a deployment's files get", () => {
    const emails = new EmailCatalog({ from: "a@b.test", product: "p", defaultLocale: "en" });
    expect([...emails.locales].sort()).toEqual([...SHIPPED_LOCALES].sort());
    for (const locale of SHIPPED_LOCALES) {
      for (const kind of ["reset", "password-changed"] as const) {
        const raw = emails.template(kind, locale);
        for (const part of ["subject", "text", "html"] as const) {
          expect(templateProblem(EMAIL_KINDS[kind], part, raw[part])).toBeUndefined();
        }
      }
    }
  });

  test("values are escaped in HTML only, and never break the subject", () => {
    const rendered = renderTemplate(
      { subject: "{{product}}", text: "{{ product }}", html: "<p>{{product}}</p>" },
      { product: "A <b>&\nB" },
    );
    expect(rendered).toEqual({
      subject: "A <b>& B",
      text: "A <b>&\nB",
      html: "<p>A &lt;b&gt;&amp;\nB</p>",
    });
  });

  test("a placeholder a kind does not know, or a body without the code, is refused", () => {
    expect(templateProblem(EMAIL_KINDS.reset, "text", "{{code}} {{name}}")).toContain(
      "unknown placeholder {{name}}",
    );
    expect(templateProblem(EMAIL_KINDS.reset, "text", "no code")).toBe(
      "missing placeholder {{code}}",
    );
    expect(templateProblem(EMAIL_KINDS.reset, "subject", "Code")).toBeUndefined();
    expect(templateProblem(EMAIL_KINDS["password-changed"], "text", "{{code}}")).toContain(
      "unknown placeholder {{code}}",
    );
  });
});
