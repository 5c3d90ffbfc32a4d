/**
 * Rotating SECRET_KEY under load (README: Rotating keys): clients keep logging in, triggering
 * and resetting while the server restarts with `B,A`, `keys rewrap` runs and the server
 * restarts with `B` alone. A request the server answered never fails; one that found no server
 * listening (a restart's gap) is sent again, as any client would.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { keyId } from "../../src/privacy/crypto";
import { runCommand } from "../support/command";
import { onPostgres } from "../support/database";
import {
  codesSent,
  type HttpResult,
  messagesTo,
  PASSWORD,
  register,
  TRIGGER,
  uniqueEmail,
  useDeployment,
} from "../support/e2e";
import { readAnswer } from "../support/http";
import { testSecret } from "../support/runtime";
import { postJson, type ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

const root = join(import.meta.dir, "..", "..");
const TOKEN = "rotation-load-audit-token-0123456789";
const A = testSecret();
const B = testSecret();
const CLIENTS = 3;

const deployment = useDeployment({ SECRET_KEY: A, AUDIT_TOKEN: TOKEN, RATE_LIMITS: "off" });
let server: ServerProcess | undefined;
let url = "";

/** On PostgreSQL the next server listens before the last stops; embedded, one at a time. */
async function restart(secretKey: string): Promise<void> {
  const previous = server;
  if (!onPostgres) await previous?.stop();
  server = await deployment.start({ SECRET_KEY: secretKey });
  url = server.url;
  if (onPostgres) await previous?.stop();
}

/** The request, sent again while no server listens; the first answer counts. */
async function send(request: () => Promise<HttpResult>): Promise<HttpResult> {
  return waitFor(
    async () => {
      try {
        return await request();
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 60_000, what: "a listening server" },
  );
}

const failures: string[] = [];
const done = { login: 0, trigger: 0, reset: 0, audit: 0 };

function expectStatus(what: string, res: HttpResult, status: number): boolean {
  if (res.status === status) return true;
  failures.push(`${what}: ${res.status} ${JSON.stringify(res.json)}`);
  return false;
}

/** One user's loop: log in, ask for a code, reset with it, read its audit trail. */
async function client(email: string, stop: { now: boolean }): Promise<void> {
  let password = PASSWORD;
  let round = 0;
  while (!stop.now) {
    round++;
    const login = await send(() => postJson(`${url}/v1/auth/login`, { email, password }));
    if (expectStatus(`login ${email}`, login, 200)) done.login++;
    const before = codesSent(messagesTo(deployment.fake, email)).length;
    const triggered = await send(() => postJson(`${url}${TRIGGER}`, { email }));
    if (!expectStatus(`trigger ${email}`, triggered, 200)) continue;
    done.trigger++;
    const code = await waitFor(
      () => codesSent(messagesTo(deployment.fake, email))[before] ?? undefined,
      { timeoutMs: 30_000, what: `the code for ${email}` },
    );
    const next = `Load-Rotated-${round}-Passw0rd!`;
    const reset = await send(() =>
      postJson(`${url}/v1/auth/password-reset/reset`, { code, new_password: next }),
    );
    if (expectStatus(`reset ${email}`, reset, 200)) {
      done.reset++;
      password = next;
    }
    const audit = await send(async () =>
      readAnswer(
        await fetch(`${url}/v1/audit/events?email=${encodeURIComponent(email)}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        }),
      ),
    );
    const events = (audit.json as { events?: unknown[] } | undefined)?.events ?? [];
    if (expectStatus(`audit ${email}`, audit, 200) && events.length > 0) done.audit++;
    else if (audit.status === 200) failures.push(`audit ${email}: no events`);
  }
}

async function keys(...args: string[]) {
  const result = await runCommand(["bun", "src/cli/keys.ts", ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...deployment.env,
      SECRET_KEY: `${B},${A}`,
    },
  });
  expect({ code: result.code, stderr: result.code === 0 ? "" : result.stderr }).toEqual({
    code: 0,
    stderr: "",
  });
  return result.stdout;
}

describe("SECRET_KEY rotation under load", () => {
  test("A → B,A → rewrap → B with clients running throughout: no answered request fails", async () => {
    await restart(A);
    const emails = Array.from({ length: CLIENTS }, (_, i) => uniqueEmail(`load-rotate-${i}`));
    for (const email of emails) await register(url, email);

    const stop = { now: false };
    const clients = Promise.all(emails.map((email) => client(email, stop)));
    const progressed = (n: number) =>
      waitFor(() => done.reset >= n, { timeoutMs: 60_000, what: `${n} resets` });

    await progressed(CLIENTS);
    await restart(`${B},${A}`);
    await progressed(done.reset + CLIENTS);
    if (!onPostgres) {
      await server?.stop();
      server = undefined;
    }
    await keys("rewrap");
    const { keys: rows } = JSON.parse(await keys("status", "--json")) as {
      keys: { keyId: string; toMove: number; rows: Record<string, number> }[];
    };
    const underA = rows.find((r) => r.keyId === keyId(Buffer.from(A, "hex")));
    expect(underA?.toMove ?? 0).toBe(0);
    if (!onPostgres) await restart(`${B},${A}`);
    await progressed(done.reset + CLIENTS);
    // Every code the clients were given since the first restart is under B; the last one under A
    // was used or superseded by then, so A can leave the list.
    await restart(B);
    await progressed(done.reset + CLIENTS);
    stop.now = true;
    await clients;

    expect(failures).toEqual([]);
    expect(done.login).toBeGreaterThanOrEqual(4 * CLIENTS);
    expect(done.reset).toBeGreaterThanOrEqual(4 * CLIENTS);
    expect(done.audit).toBeGreaterThanOrEqual(4 * CLIENTS);
  }, 240_000);
});
