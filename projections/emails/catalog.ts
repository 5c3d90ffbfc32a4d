import { type Config, ConfigError } from "../../src/config";
import { escapeHtml, htmlDocument } from "../../src/mail/html";
import { canonicalLocale, negotiateLocale } from "../../src/mail/locale";
import type { MailMessage, MailTemplate } from "../../src/mail/mailer";
import {
  type EmailTemplate,
  loadTemplateOverrides,
  renderTemplate,
  TemplateError,
  type TemplateKind,
  type TemplateOverrides,
  templateKey,
} from "../../src/mail/templates";
import { formatResetCode } from "./code-format";
import { SHIPPED_LOCALES, WORDING, type Wording } from "./translations";

export const PASSWORD_RESET_TAG = "password-reset";
export const PASSWORD_CHANGED_TAG = "password-changed";

export type EmailKind = "reset" | "password-changed";

/** The placeholders each email knows; the reset email's bodies must show its code. */
export const EMAIL_KINDS: Record<EmailKind, TemplateKind> = {
  reset: {
    placeholders: ["code", "lifetime", "lifetime_minutes", "product"],
    requiredInBodies: ["code"],
  },
  "password-changed": { placeholders: ["product"], requiredInBodies: [] },
};

export const DEFAULT_PRODUCT_NAME = "reset-ledger";

/** The recipient variable that carries each recipient's own code in a batch. */
export const CODE_VARIABLE = "code";

const CODE_STYLE =
  "font-family:Consolas,Menlo,monospace;font-size:24px;font-weight:bold;letter-spacing:2px";

const paragraphs = (lines: string[]) => lines.map((line) => `<p>${escapeHtml(line)}</p>`);

function shippedTemplate(kind: EmailKind, locale: string, wording: Wording): EmailTemplate {
  const language = { lang: locale, dir: wording.dir };
  if (kind === "reset") {
    const { subject, beforeCode, afterCode } = wording.reset;
    return {
      subject,
      text: `${[beforeCode.join("\n\n"), "{{code}}", afterCode.join("\n\n")].join("\n\n")}\n`,
      html: htmlDocument(
        subject,
        [
          ...paragraphs(beforeCode),
          // The code reads left to right in every language, Arabic included.
          `<p style="${CODE_STYLE}"><bdi dir="ltr" class="code">{{code}}</bdi></p>`,
          ...paragraphs(afterCode),
        ].join("\n"),
        language,
      ),
    };
  }
  const { subject, paragraphs: lines } = wording.changed;
  return {
    subject,
    text: `${lines.join("\n\n")}\n`,
    html: htmlDocument(subject, paragraphs(lines).join("\n"), language),
  };
}

export interface EmailSettings {
  from: string;
  product: string;
  defaultLocale: string;
  templatesDir?: string;
}

/**
 * Both emails in every shipped locale, with the deployment's template files over them. Built at
 * start-up: a file that cannot be used stops it (ConfigError naming the file).
 */
export class EmailCatalog {
  readonly from: string;
  readonly product: string;
  readonly defaultLocale: string;
  readonly locales: readonly string[];
  private readonly templates = new Map<string, EmailTemplate>();

  constructor(settings: EmailSettings) {
    this.from = settings.from;
    this.product = settings.product;
    let overrides: TemplateOverrides = new Map();
    if (settings.templatesDir !== undefined) {
      try {
        overrides = loadTemplateOverrides(settings.templatesDir, EMAIL_KINDS, canonicalLocale);
      } catch (error) {
        if (error instanceof TemplateError)
          throw new ConfigError("MAIL_TEMPLATES_DIR", error.message);
        throw error;
      }
    }
    const locales = new Set(SHIPPED_LOCALES);
    for (const key of overrides.keys()) locales.add(key.slice(key.indexOf(".") + 1));
    for (const locale of locales) {
      for (const kind of Object.keys(EMAIL_KINDS) as EmailKind[]) {
        const wording = WORDING[locale];
        const override = overrides.get(templateKey(kind, locale)) ?? {};
        const base = wording ? shippedTemplate(kind, locale, wording) : undefined;
        const template = { ...base, ...override };
        // A locale of the deployment's own has no shipped wording to fall back on.
        for (const [part, suffix] of [
          ["subject", "subject"],
          ["text", "txt"],
          ["html", "html"],
        ] as const) {
          if (template[part] === undefined) {
            throw new ConfigError(
              "MAIL_TEMPLATES_DIR",
              `${settings.templatesDir}/${kind}.${locale}.${suffix}: missing (${locale} is not shipped)`,
            );
          }
        }
        this.templates.set(templateKey(kind, locale), template as EmailTemplate);
      }
    }
    this.locales = [...locales];
    const defaultLocale = negotiateLocale(settings.defaultLocale, this.locales);
    if (defaultLocale === undefined) {
      throw new ConfigError(
        "MAIL_DEFAULT_LOCALE",
        `no emails in "${settings.defaultLocale}" (available: ${this.locales.join(", ")})`,
      );
    }
    this.defaultLocale = defaultLocale;
  }

  /** The account's locale if one fits, else the request's Accept-Language, else the default. */
  localeFor(accountLocale: string | undefined, acceptLanguage: string | null | undefined): string {
    return (
      negotiateLocale(accountLocale, this.locales) ??
      negotiateLocale(acceptLanguage, this.locales) ??
      this.defaultLocale
    );
  }

  /** A locale this catalog has (an older event's, or none: the default). */
  known(locale: string | undefined): string {
    return locale !== undefined && this.locales.includes(locale)
      ? locale
      : this.localeFor(locale, undefined);
  }

  /** The template as filled in: the shipped one, or the deployment's files over it. */
  template(kind: EmailKind, locale: string): EmailTemplate {
    return this.templates.get(templateKey(kind, this.known(locale))) as EmailTemplate;
  }

  render(kind: EmailKind, locale: string, values: Record<string, string>): EmailTemplate {
    return renderTemplate(this.template(kind, locale), { product: this.product, ...values });
  }

  /** The reset email for `shown` (a code, or a batch's `%recipient.code%`). */
  reset(locale: string, shown: string, expiresInMinutes: number): MailTemplate {
    const lifetime = new Intl.NumberFormat(this.known(locale), {
      style: "unit",
      unit: "minute",
      unitDisplay: "long",
    }).format(expiresInMinutes);
    const rendered = this.render("reset", locale, {
      code: shown,
      lifetime,
      lifetime_minutes: String(expiresInMinutes),
    });
    return { from: this.from, ...rendered, tags: [PASSWORD_RESET_TAG], locale: this.known(locale) };
  }

  /** The reset email for batch sending: the code is each recipient's `%recipient.code%`. */
  resetTemplate(locale: string, expiresInMinutes: number): MailTemplate {
    return this.reset(locale, `%recipient.${CODE_VARIABLE}%`, expiresInMinutes);
  }

  passwordChanged(locale: string): MailTemplate {
    return {
      from: this.from,
      ...this.render("password-changed", locale, {}),
      tags: [PASSWORD_CHANGED_TAG],
      locale: this.known(locale),
    };
  }
}

/** The emails as the configuration sets them: start-up builds them before anything else. */
export const emailCatalogOf = (config: Config) =>
  new EmailCatalog({
    from: config.mailFrom,
    product: config.mailProductName,
    defaultLocale: config.mailDefaultLocale,
    templatesDir: config.mailTemplatesDir,
  });

const englishOnly = new Map<string, EmailCatalog>();
/** The shipped emails from `from`, in English unless told: for tools and tests. */
export function shippedEmails(from: string): EmailCatalog {
  let catalog = englishOnly.get(from);
  if (!catalog) {
    catalog = new EmailCatalog({ from, product: DEFAULT_PRODUCT_NAME, defaultLocale: "en" });
    englishOnly.set(from, catalog);
  }
  return catalog;
}

export interface PasswordResetMessageInput {
  to: string;
  from: string;
  code: string;
  expiresInMinutes: number;
  locale?: string;
}

export function passwordResetMessage(input: PasswordResetMessageInput): MailMessage {
  const emails = shippedEmails(input.from);
  return {
    to: input.to,
    ...emails.reset(input.locale ?? "en", formatResetCode(input.code), input.expiresInMinutes),
  };
}

export function passwordResetTemplate(
  input: Omit<PasswordResetMessageInput, "to" | "code">,
): MailTemplate {
  return shippedEmails(input.from).resetTemplate(input.locale ?? "en", input.expiresInMinutes);
}

export function passwordChangedMessage(input: {
  to: string;
  from: string;
  locale?: string;
}): MailMessage {
  return { to: input.to, ...shippedEmails(input.from).passwordChanged(input.locale ?? "en") };
}
