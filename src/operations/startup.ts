import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, ConfigError } from "../config";

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

const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "28P01", // wrong password
  "28000", // no such role / not allowed
  "3D000", // no such database
]);

/** A failure to reach DATABASE_URL as a one-line error naming it; other errors pass through. */
export function explainDatabaseError(config: Config, error: unknown): unknown {
  if (config.databaseUrl === undefined || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  const nested = (error as { errors?: unknown[] }).errors?.[0] as { code?: unknown } | undefined;
  if (!UNREACHABLE.has(String(code)) && !UNREACHABLE.has(String(nested?.code))) return error;
  let where = "the database";
  try {
    const url = new URL(config.databaseUrl);
    where = `${url.hostname}:${url.port || "5432"}${url.pathname}`;
  } catch {}
  return new ConfigError("DATABASE_URL", `cannot reach ${where}: ${error.message || String(code)}`);
}

/** The settings in force, for the start line: nothing secret, no credentials. */
export function settingsInForce(config: Config): Record<string, unknown> {
  return {
    nodeEnv: config.nodeEnv,
    host: config.host,
    logLevel: config.logLevel,
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
    auditApi: config.auditToken !== undefined,
    metricsAuth: config.metricsToken === undefined ? "none" : "bearer",
    shutdownGraceMs: config.shutdownGraceMs,
    secretKey:
      config.secretKey === undefined ? "development key under DATA_DIR" : "from SECRET_KEY",
  };
}
