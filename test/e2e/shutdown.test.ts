/**
 * SIGTERM (README: Operating it): to `npm start` or to the server itself, the service stops accepting,
 * lets in-flight requests finish within SHUTDOWN_GRACE_MS, releases its subscription leases
 * and exits 0, leaving no process behind.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { openDatabase } from "../../src/db";
import {
  createDeployment,
  type Deployment,
  expectAnswer,
  register,
  SENT_BODY,
  trigger,
  uniqueEmail,
} from "../support/e2e";
import { alive, descendants } from "../support/processes";
import { logLines, type ServerProcess, startServer } from "../support/server";
import { waitFor } from "../support/wait";

const GRACE_MS = 8_000;
let deployment: Deployment | undefined;

afterEach(async () => {
  await deployment?.close();
  deployment = undefined;
});

/** Resolves with the exit code, or rejects once the grace period (plus a second) is over. */
async function exitWithinGrace(server: ServerProcess): Promise<number> {
  const child = server.process;
  await waitFor(() => child.exitCode !== null || child.signalCode !== null, {
    timeoutMs: GRACE_MS + 1_000,
    intervalMs: 20,
    what: `the server to exit within ${GRACE_MS} ms of SIGTERM`,
  }).catch((error: Error) => {
    throw new Error(`${error.message}:\n${server.output()}`);
  });
  return child.exited;
}

/** Who holds each subscription's lease now, read from the database once the server is gone. */
async function leaseOwners(d: Deployment): Promise<(string | null)[]> {
  const database = await openDatabase(
    d.databaseUrl === undefined
      ? { dataDir: d.env.DATA_DIR }
      : { databaseUrl: d.databaseUrl, poolSize: 1 },
  );
  try {
    const { rows } = await sql<{ owner: string | null }>`select owner from subscriptions`.execute(
      database.db,
    );
    return rows.map((r) => r.owner);
  } finally {
    await database.close();
  }
}

async function drainsInFlightTriggers(command: string[] | undefined) {
  deployment = await createDeployment({ SHUTDOWN_GRACE_MS: String(GRACE_MS) });
  const d = deployment;
  const server = await startServer(d.env, { command });
  d.servers.push(server);
  const emails = [uniqueEmail("drain-a"), uniqueEmail("drain-b"), uniqueEmail("drain-c")];
  for (const email of emails) await register(server.url, email);

  // The provider answers slowly: the triggers are in flight when SIGTERM arrives.
  await d.fake.setMode({ delayMs: 1_500 });
  const answers = Promise.all(emails.map((email) => trigger(server.url, email)));
  // The three may leave in one batch call or several: all reached the provider, some unanswered.
  const recipients = (outcome?: string) =>
    d.fake.attempts
      .filter((a) => outcome === undefined || a.outcome === outcome)
      .reduce((n, a) => n + (a.fields.to?.length ?? 0), 0);
  await waitFor(() => recipients() === 3 && recipients("pending") > 0, {
    what: "three sends reaching the provider, still in flight",
  });
  const tree = [server.process.pid, ...descendants(server.process.pid)];
  server.process.kill("SIGTERM");

  await waitFor(() => logLines(server.output()).some((l) => l.msg === "stopping"), {
    what: "the stopping line",
  });
  // No longer accepting: a new connection is refused while the old requests finish.
  const late = await fetch(`${server.url}/v1/health`).then(
    (r) => r.status,
    () => "refused",
  );
  expect(late).toBe("refused");

  for (const res of await answers) expectAnswer(res, 200, SENT_BODY);
  expect(await exitWithinGrace(server)).toBe(0);
  await waitFor(() => tree.every((pid) => !alive(pid)), { what: "the process tree gone" });
  expect(logLines(server.output()).some((l) => l.msg === "stopped")).toBe(true);
  expect(await leaseOwners(d)).not.toContainEqual(expect.any(String));
}

describe("SIGTERM", () => {
  test("to `npm start` during in-flight triggers: they finish, leases are released, the tree exits 0", async () => {
    await drainsInFlightTriggers(["npm", "start"]);
  });

  test("to the server itself during in-flight triggers: the same", async () => {
    await drainsInFlightTriggers(undefined);
  });

  test("a request outliving the grace period does not keep the process alive", async () => {
    deployment = await createDeployment({
      SHUTDOWN_GRACE_MS: "1000",
      RESET_DISPATCH_TIMEOUT_MS: "60000",
    });
    const server = await deployment.start();
    const email = uniqueEmail("outlive");
    await register(server.url, email);
    await deployment.fake.setMode({ delayMs: 30_000 });
    const answer = trigger(server.url, email).catch(() => "cut");
    await waitFor(() => deployment?.fake.attempts.some((a) => a.outcome === "pending"), {
      what: "a send in flight",
    });
    server.process.kill("SIGTERM");
    const code = await exitWithinGrace(server);
    expect(code).not.toBe(0);
    expect(logLines(server.output()).map((l) => l.msg)).toContain(
      "shutdown grace period over: exiting with work unfinished",
    );
    await answer;
  });
});
