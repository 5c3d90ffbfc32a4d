import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, ConfigError } from "../config";
import type { CoreContext } from "../context";
import { checkConnection } from "../db";
import type { Logger } from "../log";
import { checkKeys } from "../privacy/key-status";

const lockPath = (dataDir: string) => join(dataDir, "server.lock");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid of a live server holding the embedded database under dataDir, if any. */
export function embeddedDatabaseHolder(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(lockPath(dataDir), "utf8").trim());
  } catch {
    return undefined;
  }
  // A lock left by a killed server names a dead pid: it holds nothing.
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid) ? pid : undefined;
}

/**
 * The embedded database is single-process: a second opener would corrupt it. The server
 * records its pid under DATA_DIR while it runs; the returned function removes it.
 */
export function lockEmbeddedDatabase(dataDir: string): () => void {
  const holder = embeddedDatabaseHolder(dataDir);
  if (holder !== undefined) {
    throw new ConfigError(
      "DATA_DIR",
      `the embedded database is in use by a running server (pid ${holder})`,
    );
  }
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(lockPath(dataDir), `${process.pid}\n`);
  return () => {
    if (embeddedDatabaseHolder(dataDir) === undefined) rmSync(lockPath(dataDir), { force: true });
  };
}

/** How long the start-up check waits for the database before saying it does not answer. */
const CHECK_TIMEOUT_MS = 10_000;

/** host:port/database of a PostgreSQL URL: never its credentials. */
function databaseAddress(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.hostname}:${url.port || "5432"}${url.pathname}`;
  } catch {
    return "the database";
  }
}

/**
 * Why a connection failed, in words (the server's own message for what it refused); undefined
 * when the error is not a failure to connect.
 */
export function connectionFailure(
  error: unknown,
  timeoutMs = CHECK_TIMEOUT_MS,
): string | undefined {
  const code = String((error as { code?: unknown } | undefined)?.code ?? "");
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused: nothing listens on that port";
    case "ENOTFOUND":
      return "the host name does not resolve";
    case "EAI_AGAIN":
      return "the host name could not be looked up (DNS)";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "the host cannot be reached";
    case "ETIMEDOUT":
      return `no answer within ${timeoutMs / 1000} s`;
    case "ECONNRESET":
      return "the server closed the connection before answering (is it PostgreSQL?)";
    case "28P01": // wrong password
    case "28000": // no such role, or not allowed in
      return `authentication failed: ${message}`;
    case "3D000": // no such database
      return message;
  }
  if (/does not support SSL/i.test(message)) {
    return "the server does not support SSL (sslmode=disable connects without it)";
  }
  if (/connection timeout/i.test(message)) return `no answer within ${timeoutMs / 1000} s`;
  if (/terminated unexpectedly/i.test(message)) {
    return "the server closed the connection before answering (is it PostgreSQL?)";
  }
  // TLS: a certificate that cannot be verified or names another host.
  if (/certificate|SSL|TLS/i.test(`${code} ${message}`)) return `SSL: ${message}`;
  return undefined;
}

/** The one line for a failure to connect to DATABASE_URL, never its password. */
function databaseUrlError(databaseUrl: string, cause: string): ConfigError {
  const password = new URL(databaseUrl).password;
  const said = password === "" ? cause : cause.replaceAll(password, "…");
  return new ConfigError(
    "DATABASE_URL",
    `cannot connect to ${databaseAddress(databaseUrl)}: ${said}`,
  );
}

/** A failure to reach DATABASE_URL as a one-line error naming it; other errors pass through. */
export function explainDatabaseError(config: Config, error: unknown): unknown {
  if (config.databaseUrl === undefined || !(error instanceof Error)) return error;
  const nested = (error as { errors?: unknown[] }).errors?.[0];
  const cause = connectionFailure(error) ?? connectionFailure(nested);
  return cause === undefined ? error : databaseUrlError(config.databaseUrl, cause);
}

/**
 * One connection to DATABASE_URL before anything else uses it: a server that cannot be reached,
 * refuses the role or has no such database stops start-up in one line naming the variable.
 */
export async function checkDatabaseUrl(config: Config): Promise<void> {
  if (config.databaseUrl === undefined) return;
  try {
    await checkConnection(config.databaseUrl, CHECK_TIMEOUT_MS);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw databaseUrlError(config.databaseUrl, connectionFailure(error) ?? message);
  }
}

/** The embedded database is one process's, on one machine: production should know. */
export function warnAboutEmbeddedProduction(config: Config, log: Logger): void {
  if (!config.production || config.databaseUrl !== undefined) return;
  log.warn(
    "NODE_ENV=production on the embedded database: one process, data only in DATA_DIR on this machine; set DATABASE_URL for PostgreSQL",
    { dataDir: config.dataDir },
  );
}

/** The address a browser on this machine reaches the server at. */
export function listenUrl(host: string, port: number): string {
  const name = host === "0.0.0.0" || host === "::" ? "localhost" : host;
  return `http://${name.includes(":") ? `[${name}]` : name}:${port}`;
}

/** The settings in force, for the start line: nothing secret, no credentials. */
export function settingsInForce(config: Config): Record<string, unknown> {
  return {
    nodeEnv: config.nodeEnv,
    host: config.host,
    logLevel: config.logLevel,
    logFormat: config.logFormat,
    database: config.databaseUrl === undefined ? "embedded" : "postgres",
    dataDir: config.databaseUrl === undefined ? config.dataDir : undefined,
    mailer: config.mailgun === undefined ? "console" : "mailgun",
    mailgunUrl: config.mailgun?.url,
    mailFrom: config.mailFrom,
    resetCodeTtlSeconds: config.resetCodeTtlSeconds,
    resetDispatchTimeoutMs: config.resetDispatchTimeoutMs,
    unknownEmail: config.unknownEmail,
    rateLimits: config.rateLimits,
    trustProxy: config.trustProxy,
    auditApi: config.auditTokens.length > 0,
    // Names and scopes only: which tokens a rotation left in force.
    auditTokenNames: config.auditTokens.map((t) => `${t.name}:${t.scope}`),
    metricsAuth: config.metricsToken === undefined ? "none" : "bearer",
    shutdownGraceMs: config.shutdownGraceMs,
    secretKey:
      config.secretKey === undefined
        ? "development key under DATA_DIR"
        : `from SECRET_KEY (${config.secretKey.length} ${config.secretKey.length === 1 ? "key" : "keys"})`,
  };
}

/**
 * SECRET_KEY must open everything the database holds: a key missing from the list stops
 * start-up in one line naming the key id and the rows that need it. Sessions, device tokens and
 * live codes under an unlisted key only expire early, so they are logged, not refused.
 */
export async function verifySecretKeys(
  core: Pick<CoreContext, "db" | "keyring">,
  log: Logger,
): Promise<void> {
  const check = await checkKeys(core.db, core.keyring);
  // Lookups try the old, id-less forms only while the database holds some (none is written now).
  core.keyring.legacy = check.legacy;
  const [missing] = check.missing;
  if (missing !== undefined) {
    const needs = `${missing.rows} rows need it (${missing.kinds.join(", ")})`;
    throw new ConfigError(
      "SECRET_KEY",
      missing.keyId === undefined
        ? `no listed key opens the data written before key ids: ${needs}`
        : `lists no key ${missing.keyId}: ${needs}; list it after the new key until \`npm run keys -- rewrap\` has moved them`,
    );
  }
  for (const gone of check.expiring) {
    log.warn("rows under a key SECRET_KEY no longer lists are left to expire", {
      keyId: gone.keyId ?? "before key ids",
      rows: gone.rows,
      kinds: gone.kinds,
    });
  }
}
