/**
 * The malformed-input tests' common ground: one server process on a fresh database with one
 * registered account, the generated cases sent to it concurrently, and the checks every answer
 * must pass (README: API): a 4xx with exactly `{"error": string}` as JSON, nothing of a stack
 * trace or Elysia's validation body, the server still up afterwards, and nothing but rejection
 * events in the log.
 */
import { expect } from "bun:test";
import pg from "pg";
import { createDeployment, type Deployment, mapWithConcurrency, register } from "../e2e";
import { useFixture } from "../fixture";
import { type HttpAnswer, readAnswer } from "../http";
import type { ServerProcess } from "../server";
import { AUDIT_TOKEN, JSON_TYPE, MAX_BODY, REAL_EMAIL } from "./inputs";

const IN_FLIGHT = 8;
/** The only event types a request the server rejects may append. */
const REJECTIONS = ["PasswordResetRejected", "PasswordResetCodeRejected"];
const FORBIDDEN = ["stack", "at /", '"type":"validation"', '"summary"'];

export interface Case {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** The exact status when it is certain; otherwise any 4xx. */
  status?: number;
  /** The exact error message when it is certain. */
  error?: string;
  /** A valid request by design (health with odd headers): 200 and the health body. */
  healthy?: boolean;
}

export interface Target {
  deployment: Deployment;
  server: ServerProcess;
  /** The id of REAL_EMAIL's account. */
  realUserId: string;
  /** The log's last position before any generated request. */
  mark: number;
}

/** A server with the audit API on and REAL_EMAIL registered. */
async function startTarget(): Promise<Target> {
  const deployment = await createDeployment({ AUDIT_TOKEN, TRUST_PROXY: "true" });
  const server = await deployment.start();
  const realUserId = (await register(server.url, REAL_EMAIL)).id;
  const mark = (await eventsAfter(deployment, server, 0)).at(-1)?.position ?? 0;
  return { deployment, server, realUserId, mark };
}

/** The describe block's own target: started before its tests, closed after them. */
export function useTarget(): () => Target {
  return useFixture("the target", startTarget, (target) => target.deployment.close());
}

/**
 * Sends every case and expects every answer sound, answers of each status in `reaches` (the
 * cases reached the routes' own checks, not just the transport's), the server unharmed and
 * nothing but rejections logged; returns the event types the cases appended.
 */
export async function expectCasesRejected(
  target: Target,
  cases: readonly Case[],
  reaches: readonly number[],
): Promise<string[]> {
  const statuses = await expectEveryAnswerSound(target, cases);
  for (const status of reaches) expect(statuses.get(status) ?? 0).toBeGreaterThan(0);
  await expectServerUnharmed(target);
  return expectOnlyRejectionsLogged(target);
}

const enc = new TextEncoder();

export const sizeOf = (body: string | Uint8Array | undefined) =>
  body === undefined ? 0 : typeof body === "string" ? enc.encode(body).length : body.length;

/** Sends every case, IN_FLIGHT at a time, and expects no problem with any answer; counts statuses. */
async function expectEveryAnswerSound(
  target: Target,
  cases: readonly Case[],
): Promise<Map<number, number>> {
  const problems: { case: string; problem: string; status: number; body: string }[] = [];
  const statuses = new Map<number, number>();
  const answers = new Map<string, number>();
  await mapWithConcurrency(cases, IN_FLIGHT, async (c) => {
    let answer: HttpAnswer;
    try {
      answer = await readAnswer(
        await fetch(`${target.server.url}${c.path}`, {
          method: c.method,
          headers: c.headers,
          body: c.body,
        }),
      );
    } catch (error) {
      problems.push({ case: c.name, problem: `no answer: ${error}`, status: 0, body: "" });
      return;
    }
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    const answered = `${answer.status} ${answer.text.slice(0, 60)}`;
    answers.set(answered, (answers.get(answered) ?? 0) + 1);
    const problem = problemWith(c, answer);
    if (problem) {
      problems.push({
        case: c.name,
        problem,
        status: answer.status,
        body: answer.text.slice(0, 200),
      });
    }
  });

  // FUZZ_DUMP=1 shows what the run reached (answers by status and body).
  if (process.env.FUZZ_DUMP) {
    for (const [answer, n] of [...answers].sort()) console.log(`${n}\t${answer}`);
  }
  expect(problems).toEqual([]);
  return statuses;
}

/** What is wrong with this answer to this case; undefined when nothing is. */
function problemWith(c: Case, a: HttpAnswer): string | undefined {
  const contentType = a.headers.get("content-type") ?? "";
  if (FORBIDDEN.some((s) => a.text.includes(s))) return "a stack trace or framework body";
  if (c.healthy) {
    if (a.status !== 200) return `expected 200, got ${a.status}`;
    if (!contentType.startsWith("application/json")) return `content-type ${contentType}`;
    const body = a.json as { status?: unknown } | undefined;
    return body?.status === "ok" ? undefined : "not the health body";
  }
  if (a.status < 400 || a.status > 499) return `status ${a.status} is not a 4xx`;
  if (c.status !== undefined && a.status !== c.status)
    return `expected ${c.status}, got ${a.status}`;
  if (!contentType.startsWith("application/json")) return `content-type "${contentType}"`;
  const body = a.json;
  if (
    typeof body !== "object" ||
    body === null ||
    Array.isArray(body) ||
    Object.keys(body).join() !== "error" ||
    typeof (body as { error: unknown }).error !== "string"
  ) {
    return "body is not exactly {error: string}";
  }
  const error = (body as { error: string }).error;
  if (c.error !== undefined && error !== c.error) return `expected "${c.error}", got "${error}"`;
  if (a.status === 413 && sizeOf(c.body) <= MAX_BODY) return `413 for ${sizeOf(c.body)} bytes`;
  return undefined;
}

/** The server is still up and answering, and no request leaked into the process's objects. */
async function expectServerUnharmed(target: Target): Promise<void> {
  const { server } = target;
  expect(server.process.exitCode).toBeNull();
  const health = await fetch(`${server.url}/v1/health`);
  expect(health.status).toBe(200);
  expect(((await health.json()) as { status: string }).status).toBe("ok");
  // A fresh object has no polluted members.
  const after = await fetch(`${server.url}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": JSON_TYPE },
    body: "{}",
  });
  expect(await after.json()).toEqual({ error: "email and password are required" });
}

/** Expects nothing but rejections appended since the mark; returns the types appended. */
async function expectOnlyRejectionsLogged(target: Target): Promise<string[]> {
  const types = (await eventsAfter(target.deployment, target.server, target.mark)).map(
    (e) => e.type,
  );
  expect(types.filter((type) => !REJECTIONS.includes(type))).toEqual([]);
  return types;
}

/** The events after `after`: from the table on PostgreSQL, via the audit API embedded. */
async function eventsAfter(
  deployment: Deployment,
  server: ServerProcess,
  after: number,
): Promise<{ position: number; type: string }[]> {
  if (deployment.databaseUrl !== undefined) {
    const client = new pg.Client({ connectionString: deployment.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ position: string; type: string }>(
        "select global_position as position, type from events where global_position > $1 order by global_position",
        [after],
      );
      return rows.map((row) => ({ position: Number(row.position), type: row.type }));
    } finally {
      await client.end();
    }
  }
  const events: { position: number; type: string }[] = [];
  let cursor = after;
  for (;;) {
    const query = cursor > 0 ? `?limit=1000&after=${cursor}` : "?limit=1000";
    const res = await fetch(`${server.url}/v1/audit/events${query}`, {
      headers: { authorization: `Bearer ${AUDIT_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const page = (await res.json()) as {
      events: { position: number; type: string }[];
      next_after: number | null;
    };
    events.push(...page.events);
    if (page.next_after === null) return events;
    cursor = page.next_after;
  }
}
