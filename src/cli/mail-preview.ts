import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EMAIL_KINDS, type EmailKind, emailCatalogOf } from "../../projections/emails/catalog";
import { formatResetCode } from "../../projections/emails/code-format";
import { ConfigError, loadConfig } from "../config";
import { canonicalLocale } from "../mail/locale";
import { generateResetCode } from "../password-reset/code";
import { fail, parseOptions } from "./common";

const usage = `usage: npm run mail:preview -- --kind reset|password-changed [--locale TAG] [--out DIR]
Renders an email as it would be sent, with MAIL_TEMPLATES_DIR, MAIL_PRODUCT_NAME and
MAIL_DEFAULT_LOCALE applied and a made-up code. The locale is matched as an account's would be
(de-AT gets de; one there are no emails in gets MAIL_DEFAULT_LOCALE).
Without --out: the subject, the text and the HTML on stdout, each after a "==> part" line.
With --out: DIR/<kind>.<locale>.subject, .txt and .html, and their paths on stdout.`;

const values = parseOptions(
  {
    kind: { type: "string" },
    locale: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
  usage,
);
const kind = values.kind as EmailKind | undefined;
if (kind === undefined || !(kind in EMAIL_KINDS)) {
  fail(`--kind: expected ${Object.keys(EMAIL_KINDS).join(" or ")}\n${usage}`);
}
const asked = values.locale ?? undefined;
if (asked !== undefined && canonicalLocale(asked) === undefined) {
  fail(`--locale: not a BCP 47 language tag: "${asked}"`);
}

let config: ReturnType<typeof loadConfig>;
let emails: ReturnType<typeof emailCatalogOf>;
try {
  config = loadConfig();
  emails = emailCatalogOf(config);
} catch (error) {
  fail(error instanceof ConfigError ? `configuration error: ${error.message}` : String(error));
}
const locale = emails.localeFor(asked, undefined);
const minutes = Math.max(1, Math.round(config.resetCodeTtlSeconds / 60));
const message =
  kind === "reset"
    ? emails.reset(locale, formatResetCode(generateResetCode()), minutes)
    : emails.passwordChanged(locale);

if (values.out === undefined) {
  process.stdout.write(
    `==> subject (${kind}, ${locale})\n${message.subject}\n==> text\n${message.text}==> html\n${message.html}`,
  );
} else {
  mkdirSync(values.out, { recursive: true });
  const parts = { subject: `${message.subject}\n`, txt: message.text, html: message.html };
  for (const [suffix, content] of Object.entries(parts)) {
    const path = join(values.out, `${kind}.${locale}.${suffix}`);
    writeFileSync(path, content);
    process.stdout.write(`${path}\n`);
  }
}
