import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { escapeHtml } from "./html";

/** One email's wording: `{{name}}` placeholders in each part, values escaped in the HTML. */
export interface EmailTemplate {
  subject: string;
  text: string;
  html: string;
}

export type TemplatePart = keyof EmailTemplate;
const PARTS: Record<string, TemplatePart> = { subject: "subject", txt: "text", html: "html" };

/** What a kind of email may say: the placeholders it knows, and those its bodies must show. */
export interface TemplateKind {
  placeholders: readonly string[];
  requiredInBodies: readonly string[];
}

/** A template file that cannot be used; start-up stops with its one line. */
export class TemplateError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

export function placeholdersIn(source: string): string[] {
  return [...source.matchAll(PLACEHOLDER)].map((match) => match[1] ?? "");
}

export function renderTemplate(
  template: EmailTemplate,
  values: Record<string, string>,
): EmailTemplate {
  const fill = (source: string, encode: (v: string) => string) =>
    source.replace(PLACEHOLDER, (_, name: string) => encode(values[name] ?? ""));
  return {
    // A subject is one header line: no value may break it.
    subject: fill(template.subject, (v) => v.replace(/[\r\n]+/g, " ")).replace(/[\r\n]+/g, " "),
    text: fill(template.text, (v) => v),
    html: fill(template.html, escapeHtml),
  };
}

const VOID_ELEMENTS = new Set(
  "area base br col embed hr img input link meta param source track wbr".split(" "),
);

/** A small well-formedness check: every opened tag is closed, in order. */
export function htmlProblem(html: string): string | undefined {
  const open: string[] = [];
  const tokens = html
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, "")
    .matchAll(
      /<(\/?)([a-zA-Z][\w:-]*)((?:"[^"]*"|'[^']*'|[^'">])*)>|<(?![!?/a-zA-Z])|<!(?!--)[^>]*>/g,
    );
  for (const match of tokens) {
    const [whole, closing, rawName, rest] = match;
    if (whole.startsWith("<!")) continue;
    if (rawName === undefined) continue;
    const name = rawName.toLowerCase();
    if (closing) {
      const last = open.pop();
      if (last !== name) {
        return last ? `</${name}> closes <${last}>` : `</${name}> closes nothing`;
      }
    } else if (!VOID_ELEMENTS.has(name) && !rest?.trimEnd().endsWith("/")) {
      open.push(name);
    }
  }
  if (html.replace(/<!--[\s\S]*?-->/g, "").match(/<[a-zA-Z!/][^>]*$/))
    return "a tag is not closed by >";
  const unclosed = open.pop();
  return unclosed ? `<${unclosed}> is never closed` : undefined;
}

/** The problem with one part of a template, or undefined. */
export function templateProblem(
  kind: TemplateKind,
  part: TemplatePart,
  source: string,
): string | undefined {
  const used = placeholdersIn(source);
  const unknown = used.find((name) => !kind.placeholders.includes(name));
  if (unknown !== undefined) {
    return `unknown placeholder {{${unknown}}} (known: ${kind.placeholders.map((p) => `{{${p}}}`).join(", ")})`;
  }
  if (part !== "subject") {
    const missing = kind.requiredInBodies.find((name) => !used.includes(name));
    if (missing !== undefined) return `missing placeholder {{${missing}}}`;
  }
  if (part === "subject" && /[\r\n]/.test(source.trim())) return "a subject is one line";
  if (part === "html") return htmlProblem(source);
  return undefined;
}

export type TemplateOverrides = Map<string, Partial<EmailTemplate>>;

export const templateKey = (kind: string, locale: string) => `${kind}.${locale}`;

/**
 * Reads `<kind>.<locale>.<subject|txt|html>` files from `dir`, each checked; the first problem
 * throws a TemplateError naming its file. Files of no known kind or part are problems too, so a
 * misspelt name does not pass for an override that does nothing.
 */
export function loadTemplateOverrides(
  dir: string,
  kinds: Record<string, TemplateKind>,
  canonical: (locale: string) => string | undefined,
): TemplateOverrides {
  if (!existsSync(dir)) throw new TemplateError(dir, "no such directory");
  const overrides: TemplateOverrides = new Map();
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".")) continue;
    const file = join(dir, name);
    const match = /^([a-z-]+)\.([A-Za-z0-9-]+)\.(subject|txt|html)$/.exec(name);
    const kind = match ? kinds[match[1] as string] : undefined;
    if (!match || !kind) {
      throw new TemplateError(
        file,
        `expected <kind>.<locale>.<subject|txt|html>, kind one of ${Object.keys(kinds).join(", ")}`,
      );
    }
    const locale = canonical(match[2] as string);
    if (locale === undefined) throw new TemplateError(file, `not a locale: "${match[2]}"`);
    const part = PARTS[match[3] as string] as TemplatePart;
    let source: string;
    try {
      source = readFileSync(file, "utf8");
    } catch (error) {
      throw new TemplateError(file, `unreadable (${(error as Error).message})`);
    }
    if (part === "subject") source = source.trim();
    const problem = templateProblem(kind, part, source);
    if (problem) throw new TemplateError(file, problem);
    const key = templateKey(match[1] as string, locale);
    overrides.set(key, { ...overrides.get(key), [part]: source });
  }
  return overrides;
}
