import { AsyncLocalStorage } from "node:async_hooks";
import pino from "pino";

export type LogFields = Record<string, unknown>;
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose every line also carries `bindings`. */
  child(bindings: LogFields): Logger;
}

/** What the parts that only report trouble log through: the service's logger, or any with these two. */
export type ErrorLogger = Pick<Logger, "error" | "warn">;

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
  format?: LogFormat;
  /** Pretty lines in colour; by default when stderr is a terminal and NO_COLOR is unset. */
  color?: boolean;
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
  "auditTokens",
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

const COLORS: Record<string, string> = {
  debug: "\x1b[90m",
  info: "\x1b[32m",
  warn: "\x1b[33m",
  error: "\x1b[31m",
};
const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

const scalar = (value: unknown): string =>
  typeof value === "string" && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);

const clock = (time: unknown): string => {
  const at = new Date(typeof time === "string" ? time : Date.now());
  const two = (n: number) => String(n).padStart(2, "0");
  const ms = String(at.getMilliseconds()).padStart(3, "0");
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${ms}`;
};

/** The two lines every developer reads get a sentence; the JSON keeps every field. */
function headline(record: LogFields): { text: string; used: string[] } {
  const { msg } = record;
  if (msg === "request") {
    const path = record.path ?? record.route;
    const ms = typeof record.durationMs === "number" ? ` ${record.durationMs}ms` : "";
    return {
      text: `${record.method} ${path} ${record.status}${ms}`,
      used: ["method", "path", "route", "status", "durationMs"],
    };
  }
  if (msg === "listening") {
    const database =
      record.database === "embedded" ? `embedded database in ${record.dataDir}` : "PostgreSQL";
    const parts = [
      `listening on ${record.url}`,
      String(record.nodeEnv),
      database,
      `${record.mailer} mailer`,
      ...(record.metrics === "off" ? [] : [`metrics ${record.metrics}`]),
    ];
    // The settings in force stay in the JSON format: here they would make the line a screenful.
    return { text: parts.join(" · "), used: Object.keys(record) };
  }
  return { text: String(msg), used: [] };
}

function stderrWriter(): (line: string) => void {
  const stderr = pino.destination({ dest: 2, sync: true });
  return (line) => stderr.write(line);
}

/** One short human line (`12:04:05.120 INFO  GET /v1/health 200 1.2ms req=1a2b3c4d`). */
export function prettyLine(record: LogFields, color = false): string {
  const level = String(record.level);
  const paint = (code: string | undefined, text: string) =>
    color && code !== undefined ? `${code}${text}${RESET}` : text;
  const { text, used } = headline(record);
  const skip = new Set(["level", "time", "msg", "stack", ...used]);
  const fields = Object.entries(record)
    .filter(([key]) => !skip.has(key))
    .map(([key, value]) =>
      // A request id is a UUID: its first 8 digits tell the lines of one request apart.
      key === "requestId" && typeof value === "string"
        ? `req=${value.slice(0, 8)}`
        : `${key}=${scalar(value)}`,
    );
  const line = [
    paint(DIM, clock(record.time)),
    paint(COLORS[level], level.toUpperCase().padEnd(5)),
    text,
    ...(fields.length > 0 ? [paint(DIM, fields.join(" "))] : []),
  ].join(" ");
  const stack = typeof record.stack === "string" ? `\n${paint(DIM, record.stack)}` : "";
  return `${line}${stack}\n`;
}

/**
 * JSON lines (`level`, `time`, `msg`) through pino, or the same records as pretty lines; a line
 * written while serving a request carries that request's id, and secret-named fields are
 * redacted.
 */
export function createLogger(options: LoggerOptions | ((line: string) => void) = {}): Logger {
  const {
    level = "info",
    format = "json",
    ...rest
  } = typeof options === "function" ? { write: options } : options;
  const write = rest.write ?? stderrWriter();
  const color =
    rest.color ??
    (rest.write === undefined && process.stderr.isTTY === true && !process.env.NO_COLOR);
  const destination = {
    write: (s: string) =>
      write(format === "pretty" ? prettyLine(JSON.parse(s) as LogFields, color) : s),
  };
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

/** Trouble straight to the console, for a part built without the service's logger. */
export const consoleLogger: ErrorLogger = {
  warn: (message, fields) => console.warn(message, fields?.error ?? ""),
  error: (message, fields) => console.error(message, fields?.error ?? ""),
};
