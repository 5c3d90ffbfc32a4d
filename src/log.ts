export type LogFields = Record<string, unknown>;

export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

function errorFields(fields: LogFields | undefined): LogFields | undefined {
  const error = fields?.error;
  if (!(error instanceof Error)) return fields;
  return { ...fields, error: error.message, stack: error.stack };
}

/** One JSON object a line on stderr, so stdout stays free for the console mailer. */
export function createLogger(
  write: (line: string) => void = (l) => process.stderr.write(l),
): Logger {
  const emit = (level: string, message: string, fields?: LogFields) =>
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level, message, ...errorFields(fields) })}\n`,
    );
  return {
    info: (message, fields) => emit("info", message, fields),
    warn: (message, fields) => emit("warn", message, fields),
    error: (message, fields) => emit("error", message, fields),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
