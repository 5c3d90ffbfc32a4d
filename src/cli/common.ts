import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config";
import type { CoreContext } from "../context";
import { embeddedDatabaseHolder } from "../operations/startup";
import { openCore } from "../runtime";

/** Ends the command with one line on stderr and exit status 2 (a usage or configuration error). */
export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** The command's options: a bad one ends it with its message and the usage; --help prints the usage. */
export function parseOptions<O extends ParseArgsOptionsConfig>(options: O, usage: string) {
  let parsed: ReturnType<typeof parseArgs<{ options: O; strict: true }>>;
  try {
    parsed = parseArgs({ options, strict: true });
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return parsed.values;
}

/**
 * The log as the terminal reads it: DATABASE_URL, or the embedded database when no server holds
 * it. The HTTP API's tokens play no part here.
 */
export async function openLog(): Promise<CoreContext> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ ...process.env, AUDIT_TOKEN: undefined, AUDIT_TOKENS: undefined });
  } catch (error) {
    fail(error instanceof ConfigError ? `configuration error: ${error.message}` : String(error));
  }
  if (config.databaseUrl === undefined) {
    const holder = embeddedDatabaseHolder(config.dataDir);
    if (holder !== undefined) {
      fail(
        `the embedded database under ${config.dataDir} is in use by a running server (pid ${holder}): ` +
          "stop the server first, or run both on PostgreSQL (DATABASE_URL)",
      );
    }
  }
  return openCore(config);
}
