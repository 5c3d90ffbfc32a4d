import { availableParallelism } from "node:os";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log";
import { canonicalLocale } from "./mail/locale";

export type UnknownEmailPolicy = "reveal" | "conceal";
export const NODE_ENVS = ["production", "development", "test"] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

/** `read`: events, stats, exports and the page; `erase` also erases personal data. */
export const AUDIT_SCOPES = ["read", "erase"] as const;
export type AuditScope = (typeof AUDIT_SCOPES)[number];

/** One audit API token; its name, never the token, is what the log records of who acted. */
export interface AuditToken {
  name: string;
  scope: AuditScope;
  token: string;
}

export interface MailgunConfig {
  apiKey: string;
  domain: string;
  url: string;
}

export const MAIL_TRANSPORT_NAMES = ["mailgun", "smtp", "hook", "console"] as const;
export type MailTransportName = (typeof MAIL_TRANSPORT_NAMES)[number];

export interface SmtpConfig {
  /** `smtp://` (STARTTLS when offered) or `smtps://`, user and password in the URL. */
  url: string;
}

export interface MailHookConfig {
  url: string;
  /** A Standard Webhooks secret: `whsec_` and base64. */
  secret: string;
}

export interface Config {
  port: number;
  host: string;
  nodeEnv: NodeEnv;
  production: boolean;
  logLevel: LogLevel;
  /** `pretty`: one short human line per event; `json`: one JSON object per line. */
  logFormat: LogFormat;
  /** How long SIGTERM lets in-flight requests run before the process ends anyway. */
  shutdownGraceMs: number;
  databaseUrl: string | undefined;
  dataDir: string;
  /** Raw key bytes; undefined means "generate or load the dev key under dataDir". */
  /** SECRET_KEY's keys, newest first. */
  secretKey: Uint8Array[] | undefined;
  mailgun: MailgunConfig | undefined;
  /** The transports an email is offered to, in order: the next only when one surely did not take it. */
  mailTransports: MailTransportName[];
  smtp: SmtpConfig | undefined;
  mailHook: MailHookConfig | undefined;
  mailFrom: string;
  /** The emails' language when neither the account nor the request names one of theirs. */
  mailDefaultLocale: string;
  /** A directory of template files over the shipped emails; undefined: the shipped ones. */
  mailTemplatesDir: string | undefined;
  /** The name the emails give the service (`{{product}}`). */
  mailProductName: string;
  resetCodeTtlSeconds: number;
  resetDispatchTimeoutMs: number;
  unknownEmail: UnknownEmailPolicy;
  rateLimits: boolean;
  /** How many proxies in front append to X-Forwarded-For (0: the socket's address is the client). */
  trustProxy: number;
  /** Every token the audit API accepts (AUDIT_TOKENS, and AUDIT_TOKEN as `default`); none: off. */
  auditTokens: AuditToken[];
  /** Mailgun's HTTP webhook signing keys (two while it is rotated); none turns the webhook off (503). */
  webhookSigningKeys: string[];
  /** Server processes sharing the port; more than one needs PostgreSQL. */
  workers: number;
  /** A session unused this long is over, within its absolute 24 hours. */
  sessionIdleSeconds: number;
  /** The Prometheus listener's port (0: any free one); undefined: no metrics listener. */
  metricsPort: number | undefined;
  metricsHost: string;
  /** Bearer token a scrape must present; undefined: none asked. */
  metricsToken: string | undefined;
}

/** A configuration error names the variable in one line; main prints it without a stack. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

type Env = Record<string, string | undefined>;

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === "" ? undefined : value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `expected a value between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (["1", "true", "on", "yes"].includes(raw)) return true;
  if (["0", "false", "off", "no"].includes(raw)) return false;
  throw new ConfigError(name, `expected on/off or true/false, got "${raw}"`);
}

/** `false`/`0`: no proxy; `true`: one; `N`: that many trusted hops. */
function trustedHops(env: Env, name: string): number {
  const raw = read(env, name)?.toLowerCase();
  if (raw === undefined || raw === "false" || raw === "off" || raw === "no") return 0;
  if (raw === "true" || raw === "on" || raw === "yes") return 1;
  if (/^\d{1,2}$/.test(raw)) return Number(raw);
  throw new ConfigError(name, `expected false, true or a number of proxies, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, "not a valid URL");
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.join(" or ")} URL`);
  }
  return raw;
}

const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full", "no-verify"];

/** A PostgreSQL URL naming its database: without one, pg would use the role's namesake. */
function databaseUrl(env: Env, name: string): string | undefined {
  const raw = url(env, name, ["postgres:", "postgresql:"]);
  if (raw === undefined) return undefined;
  const parsed = new URL(raw);
  if (parsed.pathname.replace(/^\//, "") === "") {
    throw new ConfigError(
      name,
      `names no database: add one after the host, e.g. postgres://${parsed.username || "user"}@${parsed.host || "host"}/reset_ledger`,
    );
  }
  const sslmode = parsed.searchParams.get("sslmode");
  if (sslmode !== null && !SSL_MODES.includes(sslmode)) {
    throw new ConfigError(name, `sslmode must be one of ${SSL_MODES.join(", ")}, got "${sslmode}"`);
  }
  return raw;
}

/** A listen address: an IPv4 or IPv6 literal or a host name, never a URL or a port. */
function host(env: Env, name: string): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  if (!/^(?:[A-Za-z0-9.-]{1,253}|[0-9A-Fa-f:.]{2,45})$/.test(raw)) {
    throw new ConfigError(name, `expected an IP address or host name, got "${raw}"`);
  }
  return raw;
}

/** `auto`: one per core; otherwise a count. */
function workerCount(env: Env, name: string): number {
  if (read(env, name)?.toLowerCase() === "auto") return availableParallelism();
  return integer(env, name, 1, 1, 256);
}

/** `off` (or `false`, `no`): no listener; else a port, 0 letting the system pick a free one. */
function optionalPort(env: Env, name: string, fallback: number): number | undefined {
  const raw = read(env, name)?.toLowerCase();
  if (raw === "off" || raw === "false" || raw === "no") return undefined;
  return integer(env, name, fallback, 0, 65535);
}

const TOKEN_NAME = /^[A-Za-z0-9._-]{1,64}$/;
/** Printable ASCII without spaces or commas: what a bearer header and the list can carry. */
const TOKEN_TEXT = /^[\x21-\x2b\x2d-\x7e]+$/;

/**
 * AUDIT_TOKENS (`name:scope:token,…`) and AUDIT_TOKEN (one token named `default` with both
 * scopes), merged. Errors name the entry by position or name, never by its token.
 */
function auditTokens(env: Env): AuditToken[] {
  const tokens: AuditToken[] = [];
  const single = read(env, "AUDIT_TOKEN");
  if (single !== undefined) {
    if (single.length < 16) throw new ConfigError("AUDIT_TOKEN", "must be at least 16 characters");
    tokens.push({ name: "default", scope: "erase", token: single });
  }
  const list = read(env, "AUDIT_TOKENS");
  if (list === undefined) return tokens;
  const bad = (problem: string) => new ConfigError("AUDIT_TOKENS", problem);
  list.split(",").forEach((raw, index) => {
    const entry = raw.trim();
    const at = `entry ${index + 1}`;
    const parts = entry.split(":");
    if (parts.length < 3 || parts[0] === "") {
      throw bad(`${at} is not name:scope:token`);
    }
    const [name = "", scope = "", ...rest] = parts;
    const token = rest.join(":");
    if (!TOKEN_NAME.test(name)) {
      throw bad(`${at}: a name is 1 to 64 letters, digits, dots, dashes or underscores`);
    }
    if (!(AUDIT_SCOPES as readonly string[]).includes(scope)) {
      throw bad(`token "${name}": scope must be read or erase`);
    }
    if (token.length < 16) throw bad(`token "${name}" must be at least 16 characters`);
    if (!TOKEN_TEXT.test(token)) {
      throw bad(`token "${name}" may hold printable characters only, no spaces`);
    }
    const same = tokens.find((t) => t.name === name);
    if (same !== undefined) {
      throw bad(
        same.name === "default" && single !== undefined
          ? `the name "default" is AUDIT_TOKEN's`
          : `the name "${name}" is given twice`,
      );
    }
    const twin = tokens.find((t) => t.token === token);
    if (twin !== undefined) throw bad(`tokens "${twin.name}" and "${name}" are the same`);
    tokens.push({ name, scope: scope as AuditScope, token });
  });
  return tokens;
}

function mailTransports(env: Env, mailgunKeySet: boolean): MailTransportName[] {
  const raw = read(env, "MAIL_TRANSPORTS");
  if (raw === undefined) return [mailgunKeySet ? "mailgun" : "console"];
  const names = raw.split(",").map((n) => n.trim().toLowerCase());
  for (const name of names) {
    if (!(MAIL_TRANSPORT_NAMES as readonly string[]).includes(name)) {
      throw new ConfigError(
        "MAIL_TRANSPORTS",
        `expected a list of ${MAIL_TRANSPORT_NAMES.join(", ")}, got "${name}"`,
      );
    }
  }
  if (new Set(names).size !== names.length) {
    throw new ConfigError("MAIL_TRANSPORTS", "a transport is listed twice");
  }
  return names as MailTransportName[];
}

function mailHookSecret(env: Env, name: string): string | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const base64 = raw.startsWith("whsec_") ? raw.slice("whsec_".length) : "";
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || Buffer.from(base64, "base64").length < 24) {
    throw new ConfigError(
      name,
      "expected a Standard Webhooks secret: whsec_ and 24 or more bytes in base64",
    );
  }
  return raw;
}

/** One key, or two while Mailgun's is rotated. */
function webhookSigningKeys(env: Env, name: string): string[] {
  const raw = read(env, name);
  if (raw === undefined) return [];
  const keys = raw.split(",").map((key) => key.trim());
  if (keys.some((key) => key === "")) throw new ConfigError(name, "an empty key in the list");
  if (keys.length > 2) {
    throw new ConfigError(name, `at most two keys (the new one and the old), got ${keys.length}`);
  }
  return keys;
}

/** Accepts hex (64+ digits) or base64 (44+ chars); either must decode to at least 32 bytes. */
export function parseSecretKey(raw: string, name = "SECRET_KEY"): Uint8Array {
  let bytes: Uint8Array | undefined;
  if (/^[0-9a-fA-F]+$/.test(raw) && raw.length % 2 === 0) {
    bytes = Uint8Array.from(Buffer.from(raw, "hex"));
  } else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw)) {
    bytes = Uint8Array.from(Buffer.from(raw, "base64"));
  }
  if (bytes === undefined) throw new ConfigError(name, "expected hex or base64");
  if (bytes.length < 32) {
    throw new ConfigError(name, `must be at least 32 bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** A comma-separated list of keys, newest first; each as parseSecretKey takes it. */
export function parseSecretKeys(raw: string, name = "SECRET_KEY"): Uint8Array[] {
  const keys = raw.split(",").map((part, i) => {
    const key = part.trim();
    if (key === "") throw new ConfigError(name, `key ${i + 1} of the list is empty`);
    return parseSecretKey(key, name);
  });
  const seen = new Set(keys.map((k) => Buffer.from(k).toString("hex")));
  if (seen.size !== keys.length) throw new ConfigError(name, "lists one key twice");
  return keys;
}

/**
 * `terminal`: the logs' stream (stderr) is a terminal, where development logs default to
 * one human line per event.
 */
export function loadConfig(
  env: Env = process.env,
  terminal: boolean = process.stderr.isTTY === true,
): Config {
  // A typo such as "prod" must not start a development server with a generated key.
  const nodeEnv = oneOf(env, "NODE_ENV", NODE_ENVS, "development");
  const production = nodeEnv === "production";
  const rawKey = read(env, "SECRET_KEY");
  const secretKey = rawKey === undefined ? undefined : parseSecretKeys(rawKey);

  const apiKey = read(env, "MAILGUN_API_KEY");
  const domain = read(env, "MAILGUN_DOMAIN");
  const mailgunUrl = url(env, "MAILGUN_URL", ["http:", "https:"]) ?? "https://api.mailgun.net";
  const transports = mailTransports(env, apiKey !== undefined);
  const usesMailgun = read(env, "MAIL_TRANSPORTS") === undefined || transports.includes("mailgun");
  // Every missing production setting in one message, not one per attempt to start.
  const required: [string, unknown][] = [
    ["SECRET_KEY", secretKey],
    ...(usesMailgun
      ? ([
          ["MAILGUN_API_KEY", apiKey],
          ["MAILGUN_DOMAIN", domain],
        ] as [string, unknown][])
      : []),
  ];
  const missing = production ? required.filter(([, v]) => v === undefined).map(([n]) => n) : [];
  if (missing.length > 0) {
    throw new ConfigError(missing.join(", "), "required when NODE_ENV=production");
  }
  if (apiKey !== undefined && domain === undefined) {
    throw new ConfigError("MAILGUN_DOMAIN", "required when MAILGUN_API_KEY is set");
  }
  if (domain !== undefined && !/^[a-z0-9.-]+\.[a-z0-9-]+$/i.test(domain)) {
    throw new ConfigError("MAILGUN_DOMAIN", `not a domain name: "${domain}"`);
  }
  if (transports.includes("mailgun") && apiKey === undefined) {
    throw new ConfigError("MAILGUN_API_KEY", "required when MAIL_TRANSPORTS lists mailgun");
  }
  const smtpUrl = url(env, "SMTP_URL", ["smtp:", "smtps:"]);
  if (transports.includes("smtp") && smtpUrl === undefined) {
    throw new ConfigError("SMTP_URL", "required when MAIL_TRANSPORTS lists smtp");
  }
  const hookUrl = url(env, "MAIL_HOOK_URL", ["http:", "https:"]);
  const hookSecret = mailHookSecret(env, "MAIL_HOOK_SECRET");
  if (transports.includes("hook") && hookUrl === undefined) {
    throw new ConfigError("MAIL_HOOK_URL", "required when MAIL_TRANSPORTS lists hook");
  }
  if (transports.includes("hook") && hookSecret === undefined) {
    throw new ConfigError("MAIL_HOOK_SECRET", "required when MAIL_TRANSPORTS lists hook");
  }
  const mailFrom = read(env, "MAIL_FROM") ?? `no-reply@${domain ?? "localhost"}`;
  if (!mailFrom.includes("@") || /[\r\n]/.test(mailFrom)) {
    throw new ConfigError("MAIL_FROM", "expected an email address");
  }

  const defaultLocale = read(env, "MAIL_DEFAULT_LOCALE") ?? "en";
  const mailDefaultLocale = canonicalLocale(defaultLocale);
  if (mailDefaultLocale === undefined) {
    throw new ConfigError("MAIL_DEFAULT_LOCALE", `not a BCP 47 language tag: "${defaultLocale}"`);
  }
  const mailProductName = read(env, "MAIL_PRODUCT_NAME") ?? "reset-ledger";
  if (/[\r\n]/.test(mailProductName) || mailProductName.length > 100) {
    throw new ConfigError("MAIL_PRODUCT_NAME", "expected one line of at most 100 characters");
  }

  const audit = auditTokens(env);
  const metricsToken = read(env, "METRICS_TOKEN");
  if (metricsToken !== undefined && metricsToken.length < 16) {
    throw new ConfigError("METRICS_TOKEN", "must be at least 16 characters");
  }

  const workers = workerCount(env, "WORKERS");
  if (workers > 1 && read(env, "DATABASE_URL") === undefined) {
    throw new ConfigError(
      "WORKERS",
      `${workers} workers need DATABASE_URL: the embedded database is single-process`,
    );
  }

  return {
    port: integer(env, "PORT", 3000, 0, 65535),
    host: host(env, "HOST") ?? "0.0.0.0",
    nodeEnv,
    production,
    logLevel: oneOf(env, "LOG_LEVEL", LOG_LEVELS, "info"),
    logFormat: oneOf(
      env,
      "LOG_FORMAT",
      LOG_FORMATS,
      nodeEnv === "development" && terminal ? "pretty" : "json",
    ),
    shutdownGraceMs: integer(env, "SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
    databaseUrl: databaseUrl(env, "DATABASE_URL"),
    dataDir: read(env, "DATA_DIR") ?? "./.data",
    secretKey,
    mailgun:
      apiKey !== undefined && domain !== undefined
        ? { apiKey, domain, url: mailgunUrl }
        : undefined,
    mailTransports: transports,
    smtp: smtpUrl === undefined ? undefined : { url: smtpUrl },
    mailHook:
      hookUrl === undefined || hookSecret === undefined
        ? undefined
        : { url: hookUrl, secret: hookSecret },
    mailFrom,
    mailDefaultLocale,
    mailTemplatesDir: read(env, "MAIL_TEMPLATES_DIR"),
    mailProductName,
    resetCodeTtlSeconds: integer(env, "RESET_CODE_TTL_SECONDS", 600, 1, 600),
    resetDispatchTimeoutMs: integer(env, "RESET_DISPATCH_TIMEOUT_MS", 10_000, 100, 120_000),
    unknownEmail: oneOf(env, "RESET_UNKNOWN_EMAIL", ["reveal", "conceal"], "reveal"),
    rateLimits: flag(env, "RATE_LIMITS", true),
    trustProxy: trustedHops(env, "TRUST_PROXY"),
    auditTokens: audit,
    webhookSigningKeys: webhookSigningKeys(env, "MAILGUN_WEBHOOK_SIGNING_KEY"),
    workers,
    sessionIdleSeconds: integer(env, "SESSION_IDLE_SECONDS", 1800, 1, 86_400),
    metricsPort: optionalPort(env, "METRICS_PORT", 9464),
    metricsHost: host(env, "METRICS_HOST") ?? "127.0.0.1",
    metricsToken,
  };
}
