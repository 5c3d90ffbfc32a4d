import { AsyncLocalStorage } from "node:async_hooks";
import pino from "pino";

export type LogFields = Record<string, unknown>;
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose every line also carries `bindings`. */
  child(bindings: LogFields): Logger;
}

/** What every line logged while serving one request carries. */
export interface RequestScope {
  requestId: string;
  startedAt: number;
}

const requestScopes = new AsyncLocalStorage<RequestScope>();

/**
 * Makes `scope` current for the rest of this request's work. Elysia's hooks cannot wrap the
 * handler, so the scope is entered (not run) at the request's first hook.
 */
export function enterRequestScope(scope: RequestScope): void {
  requestScopes.enterWith(scope);
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stderr by default, so stdout stays free for the console mailer. */
  write?: (line: string) => void;
}

/** Field names whose values never reach a log line, at the top level or one level down. */
const SECRET_FIELDS = [
  "password",
  "new_password",
  "code",
  "token",
  "authorization",
  "secretKey",
  "apiKey",
  "auditToken",
  "databaseUrl",
];
const REDACT_PATHS = SECRET_FIELDS.flatMap((name) => [name, `*.${name}`]);

function errorFields(fields: LogFields | undefined): LogFields | undefined {
  const error = fields?.error;
  if (!(error instanceof Error)) return fields;
  return { ...fields, error: error.message, stack: error.stack };
}

function wrap(base: pino.Logger): Logger {
  const at =
    (level: LogLevel) =>
    (message: string, fields?: LogFields): void => {
      if (!base.isLevelEnabled(level)) return;
      const extra = errorFields(fields);
      if (extra === undefined) base[level](message);
      else base[level](extra, message);
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (bindings) => wrap(base.child(bindings)),
  };
}

/**
 * JSON lines (`level`, `time`, `msg`) through pino; a line written while serving a request
 * carries that request's id, and secret-named fields are redacted.
 */
export function createLogger(options: LoggerOptions | ((line: string) => void) = {}): Logger {
  const { level = "info", write } = typeof options === "function" ? { write: options } : options;
  const destination =
    write === undefined
      ? pino.destination({ dest: 2, sync: true })
      : { write: (s: string) => write(s) };
  const base = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      // A child bound to a request id already carries one; JSON must not repeat a key.
      mixin: (_fields, _level, logger) => {
        const scope = requestScopes.getStore();
        if (scope === undefined || "requestId" in logger.bindings()) return {};
        return { requestId: scope.requestId };
      },
    },
    destination,
  );
  return wrap(base);
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
