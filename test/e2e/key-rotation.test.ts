/**
 * Rotating SECRET_KEY (README: Rotating keys): accounts written under key A stay usable with
 * `B,A`, `npm run keys -- rewrap` moves them under B, and B alone then serves them all. A list
 * missing a key the database needs refuses to start, naming the key id.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { keyId } from "../../src/privacy/crypto";
import { runCommand } from "../support/command";
import { onPostgres } from "../support/database";
import {
  expectAnswer,
  lastCodeTo,
  PASSWORD,
  refusesToStart,
  register,
  SENT_BODY,
  trigger,
  uniqueEmail,
  useDeployment,
} from "../support/e2e";
import { readAnswer } from "../support/http";
import { testSecret } from "../support/runtime";
import { postJson, type ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

const root = join(import.meta.dir, "..", "..");
const TOKEN = "rotation-audit-token-0123456789abcdef";
const NEW_PASSWORD = "Rotated-Passw0rd!";
const A = testSecret();
const B = testSecret();
const idOf = (hex: string) => keyId(Buffer.from(hex, "hex"));

const deployment = useDeployment({ SECRET_KEY: A, AUDIT_TOKEN: TOKEN });
let server: ServerProcess | undefined;

async function restart(secretKey: string): Promise<ServerProcess> {
  await server?.stop();
  server = await deployment.start({ SECRET_KEY: secretKey });
  return server;
}

const url = () => (server as ServerProcess).url;
const login = (email: string, password = PASSWORD) =>
  postJson(`${url()}/v1/auth/login`, { email, password });
const reset = (code: string, password: string) =>
  postJson(`${url()}/v1/auth/password-reset/reset`, { code, new_password: password });

const me = async (token: string) =>
  readAnswer(await fetch(`${url()}/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } }));

async function auditEvents(email: string): Promise<{ type: string; email?: string }[]> {
  const response = await fetch(`${url()}/v1/audit/events?email=${encodeURIComponent(email)}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const answer = await readAnswer(response);
  expect(answer.status).toBe(200);
  return (answer.json as { events: { type: string; email?: string }[] }).events;
}

async function erase(userId: string): Promise<void> {
  const response = await fetch(`${url()}/v1/audit/users/${userId}/personal-data`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.status).toBe(204);
}

async function keys(secretKey: string, ...args: string[]) {
  const result = await runCommand(["bun", "src/cli/keys.ts", ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...deployment.env,
      SECRET_KEY: secretKey,
    },
  });
  expect({ code: result.code, stderr: result.code === 0 ? "" : result.stderr }).toEqual({
    code: 0,
    stderr: "",
  });
  return result.stdout;
}

interface KeyRow {
  keyId: string;
  rows: Record<string, number>;
  toMove: number;
}
async function status(secretKey: string): Promise<Map<string, KeyRow>> {
  const { keys: rows } = JSON.parse(await keys(secretKey, "status", "--json")) as {
    keys: KeyRow[];
  };
  return new Map(rows.map((row) => [row.keyId, row]));
}

/** Reads of the key-protected rows, on the embedded database only while no server holds it. */
async function withoutServerIfEmbedded<T>(work: () => Promise<T>, secretKey: string): Promise<T> {
  if (onPostgres) return work();
  await server?.stop();
  server = undefined;
  const result = await work();
  await restart(secretKey);
  return result;
}

describe("SECRET_KEY rotation", () => {
  test("A → B,A → rewrap → B: every account, code and audit read keeps working", async () => {
    const alice = uniqueEmail("rotate-alice");
    const bob = uniqueEmail("rotate-bob");
    const carol = uniqueEmail("rotate-carol");
    const dave = uniqueEmail("rotate-dave");

    await restart(A);
    await register(url(), alice);
    await register(url(), bob);
    const carolId = (await register(url(), carol)).id;
    const daveId = (await register(url(), dave)).id;
    const bobSession = ((await login(bob)).json as { token: string }).token;
    expectAnswer(await trigger(url(), alice), 200, SENT_BODY);
    const codeBefore = await waitFor(() => {
      try {
        return lastCodeTo(deployment.fake, alice);
      } catch {
        return undefined;
      }
    });
    await erase(carolId);
    await server?.stop();
    server = undefined;

    // B alone before rewrap: the data under A would be lost, so start-up refuses, naming A.
    const missing = await refusesToStart({ ...deployment.env, SECRET_KEY: B }, "SECRET_KEY");
    expect(missing).toContain(idOf(A));
    expect(missing).toMatch(/\d+ rows need it/);

    await restart(`${B},${A}`);
    expect((await login(alice)).status).toBe(200);
    expect((await login(bob)).status).toBe(200);
    // A session opened under A still works, and moves under B as it is used.
    expect((await me(bobSession)).status).toBe(200);
    // The code emailed under A still resets while A is listed.
    expect((await reset(codeBefore, NEW_PASSWORD)).status).toBe(200);
    expect((await login(alice, NEW_PASSWORD)).status).toBe(200);
    expectAnswer(await trigger(url(), bob), 200, SENT_BODY);
    const bobCode = await waitFor(() => {
      try {
        return lastCodeTo(deployment.fake, bob);
      } catch {
        return undefined;
      }
    });
    const aliceEvents = await waitFor(async () => {
      const events = await auditEvents(alice);
      return events.some((e) => e.type === "PasswordResetCompleted") && events;
    });
    expect(aliceEvents.map((e) => e.type)).toContain("UserRegistered");
    await erase(daveId);

    const before = await withoutServerIfEmbedded(() => status(`${B},${A}`), `${B},${A}`);
    expect(before.get(idOf(A))?.toMove).toBeGreaterThan(0);

    await withoutServerIfEmbedded(() => keys(`${B},${A}`, "rewrap"), `${B},${A}`);
    const after = await withoutServerIfEmbedded(() => status(`${B},${A}`), `${B},${A}`);
    expect(after.get(idOf(A))?.toMove ?? 0).toBe(0);
    expect(after.get(idOf(A))?.rows["live codes"] ?? 0).toBe(0);
    expect(after.get(idOf(A))?.rows.sessions ?? 0).toBe(0);
    expect(after.get(idOf(B))?.rows["data keys"]).toBeGreaterThanOrEqual(2);

    await restart(B);
    expect((await me(bobSession)).status).toBe(200);
    expect((await login(alice, NEW_PASSWORD)).status).toBe(200);
    expect((await login(bob)).status).toBe(200);
    expect((await reset(bobCode, NEW_PASSWORD)).status).toBe(200);
    expect((await login(bob, NEW_PASSWORD)).status).toBe(200);
    expectAnswer(await trigger(url(), alice), 200, SENT_BODY);
    const bobEvents = await waitFor(async () => {
      const events = await auditEvents(bob);
      return events.some((e) => e.type === "PasswordResetCompleted") && events;
    });
    expect(bobEvents.map((e) => e.type)).toContain("UserRegistered");

    // Erased before and after the rotation: no listed key opens them; their events stay [erased].
    for (const email of [carol, dave]) {
      expect((await login(email)).status).toBe(401);
    }
    const byUser = async (userId: string) => {
      const response = await fetch(`${url()}/v1/audit/events?user_id=${userId}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      return ((await readAnswer(response)).json as { events: { email?: string }[] }).events;
    };
    for (const userId of [carolId, daveId]) {
      const events = await byUser(userId);
      expect(events.length).toBeGreaterThan(0);
      for (const event of events) {
        if ("email" in event) expect(event.email).toBe("[erased]");
      }
    }
    const final = await withoutServerIfEmbedded(() => status(B), B);
    expect([...final.keys()]).toEqual([idOf(B)]);
  }, 120_000);

  test("a key that opens nothing the database holds stops start-up, naming the key it lacks", async () => {
    // The embedded database takes one process at a time.
    await server?.stop();
    server = undefined;
    const line = await refusesToStart(
      { ...deployment.env, SECRET_KEY: testSecret() },
      "SECRET_KEY",
    );
    expect(line).toContain(idOf(B));
  });
});
