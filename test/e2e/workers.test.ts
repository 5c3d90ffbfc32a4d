/**
 * The listening port (README: Scaling): a lone server never shares its port, and a port in use
 * stops start-up with one line naming PORT. WORKERS=N on PostgreSQL starts N processes sharing
 * the port, every trigger mailed exactly once, and SIGTERM to the supervisor ends them all.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { onPostgres } from "../support/database";
import {
  allAttemptsSettled,
  createDeployment,
  type Deployment,
  expectAnswer,
  mapWithConcurrency,
  messagesTo,
  refusesToStart,
  register,
  SENT_BODY,
  TRIGGER,
  trigger,
  uniqueEmail,
  useDeployment,
} from "../support/e2e";
import { alive } from "../support/processes";
import { logLines, type ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

const portOf = (server: ServerProcess) => new URL(server.url).port;

describe("the listening port", () => {
  let deployment: Deployment | undefined;
  afterEach(async () => {
    await deployment?.close();
    deployment = undefined;
  });

  test("a second server on a taken port exits with one line naming PORT", async () => {
    deployment = await createDeployment();
    const first = await deployment.start();

    const line = await refusesToStart({ PORT: portOf(first) }, "PORT");
    expect(line).toBe(
      `configuration error: PORT: port ${portOf(first)} on 0.0.0.0 is already in use`,
    );
    // The first server still answers every request itself.
    const health = await fetch(`${first.url}/v1/health`);
    expect(health.status).toBe(200);
  });

  test("a stranger process that allows sharing (SO_REUSEPORT) is not joined", async () => {
    const stranger = Bun.serve({ port: 0, reusePort: true, fetch: () => new Response("other") });
    try {
      await refusesToStart({ PORT: String(stranger.port) }, "PORT");
      // WORKERS mode checks the port before it migrates or starts any worker.
      await refusesToStart(
        {
          PORT: String(stranger.port),
          WORKERS: "2",
          DATABASE_URL: "postgres://postgres@127.0.0.1:1/unreachable",
        },
        "PORT",
      );
    } finally {
      await stranger.stop(true);
    }
  });

  test("WORKERS: more than one on the embedded database, or not a count, is one line", async () => {
    expect(await refusesToStart({ WORKERS: "2" }, "WORKERS")).toContain("DATABASE_URL");
    await refusesToStart({ WORKERS: "0" }, "WORKERS");
    await refusesToStart({ WORKERS: "many" }, "WORKERS");
  });
});

interface Started {
  server: ServerProcess;
  workers: number[];
}

/** A WORKERS=2 server, once its supervisor reports every worker listening. */
async function startWorkers(deployment: Deployment): Promise<Started> {
  const server = await deployment.start({ WORKERS: "2" });
  const started = await waitFor(
    () => logLines(server.output()).find((line) => line.msg === "workers started"),
    { timeoutMs: 30_000, what: "the supervisor's `workers started` line" },
  );
  const workers = started.workers as number[];
  expect(workers).toHaveLength(2);
  expect(workers).not.toContain(server.process.pid);
  return { server, workers };
}

/** Polls until none of pids is alive. */
function gone(pids: number[], what: string) {
  return waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs: 20_000, what });
}

describe.skipIf(!onPostgres)("WORKERS=2 on PostgreSQL (TEST_DATABASE_URL)", () => {
  const deployment = useDeployment({ RATE_LIMITS: "off" });

  test("both workers serve, every trigger gets exactly one email, SIGTERM leaves no process", async () => {
    const { server, workers } = await startWorkers(deployment);
    const { fake } = deployment;
    const emails = Array.from({ length: 24 }, (_, i) => uniqueEmail(`worker-${i}`));
    await mapWithConcurrency(emails, 8, (email) => register(server.url, email));
    // A connection each, so the kernel spreads them (the chance all land on one worker: 2^-23).
    const answers = await mapWithConcurrency(emails, 8, (email) =>
      trigger(server.url, email, { connection: "close" }),
    );
    for (const res of answers) expectAnswer(res, 200, SENT_BODY);

    await allAttemptsSettled(fake);
    expect(emails.map((email) => messagesTo(fake, email).length)).toEqual(emails.map(() => 1));

    // Each access line says which worker wrote it: the triggers were spread over both.
    const servedBy = new Set(
      logLines(server.output())
        .filter((line) => line.msg === "request" && line.route === TRIGGER)
        .map((line) => line.pid),
    );
    expect([...servedBy].sort()).toEqual([...workers].sort());

    // The supervisor's listener sums what both workers counted (a request is counted just
    // after its answer, so the scrape is polled).
    const started = logLines(server.output()).find((line) => line.msg === "workers started");
    await waitFor(
      async () => {
        const text = await (await fetch(String(started?.metrics))).text();
        const sent = text.match(/^password_reset_triggers_total\{outcome="sent"\} (\d+)$/m);
        return Number(sent?.[1]) === emails.length;
      },
      { timeoutMs: 10_000, what: "both workers' triggers in one scrape" },
    );

    server.process.kill("SIGTERM");
    expect(await server.process.exited).toBe(0);
    await gone([server.process.pid, ...workers], "the supervisor and both workers gone");
    const stopped = logLines(server.output()).filter((line) => line.msg === "stopped");
    expect(stopped.map((line) => line.pid).sort()).toEqual([server.process.pid, ...workers].sort());
  });

  test("a worker that dies stops the other, and the service exits 1", async () => {
    const { server, workers } = await startWorkers(deployment);
    const [survivor, victim] = workers as [number, number];
    process.kill(victim, "SIGKILL");

    expect(await server.process.exited).toBe(1);
    await gone([survivor], "the other worker gone");
    const reported = logLines(server.output()).find(
      (line) => line.msg === "a worker exited on its own: stopping the others",
    );
    expect(reported).toMatchObject({ workerPid: victim, signal: "SIGKILL" });
  });

  test("workers whose supervisor is killed stop on their own", async () => {
    const { server, workers } = await startWorkers(deployment);
    await server.kill();
    await gone(workers, "both workers gone after their supervisor");
  });
});
