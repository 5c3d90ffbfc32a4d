/**
 * Helpers for end-to-end tests: the server is a child process (`bun src/main.ts`), Mailgun is
 * the loopback fake, and the database is a fresh PostgreSQL database (TEST_DATABASE_URL) or an
 * embedded one in a scratch DATA_DIR.
 */
import { expect } from "bun:test";
import { createTestDatabase, onPostgres, type TestDatabase } from "./database";
import {
  type FakeAttempt,
  type FakeMailgun,
  type FakeMessage,
  firstField,
  mailgunEnv,
  startFakeMailgun,
} from "./fake-mailgun";
import { standIn, useFixture } from "./fixture";
import { pgliteTemplate } from "./pglite-template";
import { testSecret } from "./runtime";
import {
  postJson,
  type ServerProcess,
  scratchDir,
  startExpectingFailure,
  startServer,
} from "./server";

export { freshIp, uniqueEmail } from "./random";

export const REGISTER = "/v1/auth/register";
export const TRIGGER = "/v1/auth/password-reset/trigger";
export const SENT_BODY = { message: "password reset email sent successfully" } as const;
export const PASSWORD = "Reset-Passw0rd!";

/** A reset code as the email shows it: 20 Crockford base32 characters in groups of four. */
const CROCKFORD = "[0-9A-HJKMNP-TV-Z]";
export const SHOWN_CODE = new RegExp(`^${CROCKFORD}{4}(?:-${CROCKFORD}{4}){4}$`);

export type Env = Record<string, string>;
export type HttpResult = Awaited<ReturnType<typeof postJson>>;

/**
 * One database with one SECRET_KEY and one fake Mailgun, and the servers started on it.
 * On PostgreSQL every server gets DATABASE_URL; embedded, DATA_DIR (one process at a time).
 */
export interface Deployment {
  fake: FakeMailgun;
  /** The fresh PostgreSQL database's URL; undefined for the embedded database. */
  databaseUrl: string | undefined;
  /** The environment every server of this deployment gets (before per-server extras). */
  env: Env;
  servers: ServerProcess[];
  start(extra?: Env): Promise<ServerProcess>;
  /** Every emailed code, as shown, in the order the fake accepted them. */
  emailedCodes(): string[];
  close(): Promise<void>;
}

export async function createDeployment(extra: Env = {}): Promise<Deployment> {
  const fake = await startFakeMailgun();
  let testDb: TestDatabase | undefined;
  let dir: ReturnType<typeof scratchDir> | undefined;
  const env: Env = {
    SECRET_KEY: testSecret(),
    ...mailgunEnv(fake),
    ...extra,
  };
  if (onPostgres) {
    testDb = await createTestDatabase();
    env.DATABASE_URL = testDb.url as string;
  } else {
    await pgliteTemplate();
    dir = scratchDir();
    env.DATA_DIR = dir.path;
  }
  const servers: ServerProcess[] = [];
  return {
    fake,
    databaseUrl: testDb?.url,
    env,
    servers,
    async start(more: Env = {}) {
      const server = await startServer({ ...env, ...more });
      servers.push(server);
      return server;
    },
    emailedCodes: () => fake.messages.map(codeOf),
    async close() {
      await Promise.allSettled(servers.map((s) => s.stop()));
      await fake.stop();
      await testDb?.drop().catch(() => {});
      dir?.remove();
    },
  };
}

/** `extra`, or what it returns once the hooks run (when it names what an earlier hook made). */
const resolve = (extra: Env | (() => Env)): Env => (typeof extra === "function" ? extra() : extra);

/** The calling block's deployment: created before its tests, closed after them. */
export function useDeployment(extra: Env | (() => Env) = {}): Deployment {
  const deployment = useFixture(
    "the deployment",
    () => createDeployment(resolve(extra)),
    (d) => d.close(),
  );
  return standIn(deployment);
}

/** The calling block's deployment with one server started on it before its tests. */
export function useServer(extra: Env | (() => Env) = {}): {
  deployment: Deployment;
  server: ServerProcess;
} {
  const deployment = useDeployment(extra);
  const server = useFixture(
    "the server",
    () => deployment.start(),
    async () => {}, // stopped with its deployment
  );
  return { deployment, server: standIn(server) };
}

/** The server refuses to start: one line naming `variable`, no stack, non-zero exit; the line. */
export async function refusesToStart(
  env: Record<string, string>,
  variable: string,
): Promise<string> {
  const dir = scratchDir();
  try {
    const { code, output } = await startExpectingFailure({ DATA_DIR: dir.path, ...env });
    expect(code).not.toBe(0);
    const lines = output.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(output).not.toContain("    at ");
    return lines[0] ?? "";
  } finally {
    dir.remove();
  }
}

export interface AuditEvent {
  type: string;
  data: Record<string, unknown>;
}

/** The audit API's events for an email, read with an audit token. */
export async function auditEvents(
  baseUrl: string,
  email: string,
  token: string,
): Promise<AuditEvent[]> {
  const res = await fetch(`${baseUrl}/v1/audit/events?email=${encodeURIComponent(email)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: AuditEvent[] }).events;
}

export async function register(baseUrl: string, email: string): Promise<{ id: string }> {
  const res = await postJson(`${baseUrl}${REGISTER}`, { email, password: PASSWORD });
  expect({ email, status: res.status }).toEqual({ email, status: 201 });
  return (res.json as { user: { id: string } }).user;
}

/** POST /v1/auth/password-reset/trigger with `{email}` (a string) or the given body as is. */
export function trigger(
  baseUrl: string,
  emailOrBody: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  const body = typeof emailOrBody === "string" ? { email: emailOrBody } : emailOrBody;
  return postJson(`${baseUrl}${TRIGGER}`, body, headers);
}

/** Exact status, exact body, JSON content type. */
export function expectAnswer(res: HttpResult, status: number, body: unknown): void {
  expect({ status: res.status, body: res.json }).toEqual({ status, body });
  expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
}

export const expectError = (res: HttpResult, status: number, error: string) =>
  expectAnswer(res, status, { error });

/** 429 with the documented body and a Retry-After of whole seconds, at least one. */
export function expectTooManyRequests(res: HttpResult, maxSeconds = Number.POSITIVE_INFINITY) {
  expectError(res, 429, "too many requests");
  const retryAfter = res.headers.get("retry-after") ?? "";
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  expect(Number(retryAfter)).toBeLessThanOrEqual(maxSeconds);
}

export const recipientOf = (fields: FakeMessage["fields"]) => firstField(fields, "to");

/** Messages the fake accepted (answered 2xx) for this address. */
export const messagesTo = (fake: FakeMailgun, address: string): FakeMessage[] =>
  fake.messages.filter((m) => recipientOf(m.fields) === address);

/** Every request the fake received for this address, whatever the answer. */
export const attemptsTo = (fake: FakeMailgun, address: string): FakeAttempt[] =>
  fake.attempts.filter((a) => recipientOf(a.fields) === address);

/** The lines of the text part (multipart encoding turns line breaks into CRLF). */
export const textLines = (message: FakeMessage): string[] =>
  (firstField(message.fields, "text") ?? "").split(/\r?\n/);

/** The code as the email shows it: the one line of the text part that is exactly a code. */
export function codeOf(message: FakeMessage): string {
  const lines = textLines(message).filter((line) => SHOWN_CODE.test(line));
  if (lines.length !== 1 || lines[0] === undefined) {
    throw new Error(`expected exactly one code line in the text part, found ${lines.length}`);
  }
  return lines[0];
}

/** The codes these emails show, in their order (an email without a code adds none). */
export const codesSent = (messages: readonly FakeMessage[]): string[] =>
  messages.flatMap((m) => textLines(m).filter((line) => SHOWN_CODE.test(line)));

/** The code of the newest email with a code the fake accepted for this address, as shown. */
export function lastCodeTo(fake: FakeMailgun, address: string): string {
  const code = codesSent(messagesTo(fake, address)).at(-1);
  if (code === undefined) throw new Error(`no code emailed to ${address}`);
  return code;
}

/** The forms a code could leak in: as shown, without separators, lower-cased. */
export function codeForms(shown: string): string[] {
  const compact = shown.replaceAll("-", "");
  return [shown, compact, shown.toLowerCase(), compact.toLowerCase()];
}

/** No emailed code appears in the server's output (stdout and stderr). */
export function expectNoCodesIn(output: string, codes: readonly string[]): void {
  const leaked = codes.filter((code) => codeForms(code).some((form) => output.includes(form)));
  expect(leaked).toEqual([]);
}

/** Waits until the fake has answered every request it received (none pending). */
export function allAttemptsSettled(fake: FakeMailgun, timeoutMs = 15_000) {
  return fake.waitFor((_, attempts) => attempts.every((a) => a.outcome !== "pending"), timeoutMs);
}

/** Runs fn over items with at most `limit` in flight, keeping the results in order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
