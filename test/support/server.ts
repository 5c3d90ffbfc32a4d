import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { runCommand } from "./command";
import { readAnswer } from "./http";
import { templateDataDir } from "./pglite-template";

export interface ServerProcess {
  url: string;
  /** The metrics listener's scrape URL (from the "listening" line); undefined with METRICS_PORT=off. */
  metricsUrl: string | undefined;
  process: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server printed so far (stdout and stderr). */
  output(): string;
  /** Graceful stop (SIGTERM), waiting for exit. */
  stop(): Promise<void>;
  /** kill -9: no shutdown code runs. */
  kill(): Promise<void>;
}

const root = join(import.meta.dir, "..", "..");

/**
 * A scratch DATA_DIR for an embedded-database server; removed by the returned function. It
 * starts from the migrated template when one is built (see pglite-template.ts), so the server
 * skips initdb.
 */
export function scratchDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), "reset-test-"));
  const template = templateDataDir();
  if (template !== undefined) cpSync(template, join(path, "pgdata"), { recursive: true });
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

interface Listening {
  port: number;
  /** The scrape URL, or "off". */
  metrics?: string;
}

/** The server's "listening" log line (JSON or LOG_FORMAT=pretty), once it has printed one. */
function listeningLine(output: string): Listening | undefined {
  for (const line of output.split("\n")) {
    const pretty = line.match(/ INFO {2}listening on http:\/\/\S+:(\d+)(?:.* metrics (\S+))?/);
    if (pretty) return { port: Number(pretty[1]), metrics: pretty[2] ?? "off" };
    if (!line.includes('"listening"')) continue;
    try {
      const parsed = JSON.parse(line) as { msg?: unknown; port?: unknown };
      if (parsed.msg === "listening" && typeof parsed.port === "number") {
        return parsed as Listening;
      }
    } catch {}
  }
  return undefined;
}

/** The port of the server's "listening" log line, once it has printed one. */
export function listeningPort(output: string): number | undefined {
  return listeningLine(output)?.port;
}

/** The server's JSON log lines (stderr and stdout mixed; other lines skipped). */
export function logLines(output: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {}
  }
  return lines;
}

/** The server as `npm start` runs it, but blind to a developer's `.env`: tests set their own. */
export const SERVER = ["bun", "--no-env-file", "src/main.ts"];

/** Free ports picked by the system for the API and the metrics listener, unless env says otherwise. */
const serverEnv = (env: Record<string, string | undefined>) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  PORT: "0",
  METRICS_PORT: "0",
  ...env,
});

/**
 * Starts `bun src/main.ts` as a child process on free ports, exactly as a user would, and
 * resolves once it logs that it is listening (or rejects with its output if it exits first).
 */
export async function startServer(
  env: Record<string, string | undefined>,
  options: { command?: string[] } = {},
): Promise<ServerProcess> {
  const child = Bun.spawn(options.command ?? SERVER, {
    cwd: root,
    env: serverEnv(env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  let resolveListening: (line: Listening) => void = () => {};
  const listening = new Promise<Listening>((resolve) => {
    resolveListening = resolve;
  });
  let found = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      const line = found ? undefined : listeningLine(output);
      if (line !== undefined) {
        found = true;
        resolveListening(line);
      }
    }
  };
  void pump(child.stdout);
  void pump(child.stderr);

  const exited = child.exited.then((code) => {
    throw new Error(`server exited with ${code} before listening:\n${output}`);
  });
  const { port, metrics } = await Promise.race([listening, exited]);
  exited.catch(() => {});

  return {
    url: `http://127.0.0.1:${port}`,
    metricsUrl: metrics === undefined || metrics === "off" ? undefined : metrics,
    process: child,
    output: () => output,
    async stop() {
      child.kill("SIGTERM");
      await child.exited;
    },
    async kill() {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** Runs the server expecting it to refuse to start; resolves with its exit code and output. */
export async function startExpectingFailure(
  env: Record<string, string | undefined>,
): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await runCommand(SERVER, {
    cwd: root,
    env: serverEnv(env),
  });
  return { code, output: stdout + stderr };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return readAnswer(response);
}
