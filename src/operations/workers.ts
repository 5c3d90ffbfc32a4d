import type { Subprocess } from "bun";
import { AggregatorRegistry } from "prom-client";
import type { Config } from "../config";
import { migrate, openDatabase } from "../db";
import type { Logger } from "../log";
import type { Metrics } from "../observability/metrics";
import { loadOrCreateDevSecret } from "../privacy";
import { listenForMetrics, type MetricsSource } from "./metrics-listener";
import { claimPort } from "./port";
import { explainDatabaseError } from "./startup";

/** Set by the supervisor in each worker's environment: the worker's index. */
const WORKER_VARIABLE = "RESET_LEDGER_WORKER";
/** How long past SHUTDOWN_GRACE_MS the supervisor waits before it kills a worker that hangs. */
const KILL_MARGIN_MS = 5_000;

/** How long a scrape waits for the workers' metrics before it answers without a late one. */
const METRICS_WAIT_MS = 2_000;

interface ListeningMessage {
  listening: number;
}
interface MetricsRequest {
  metricsRequest: number;
}
interface MetricsReply {
  metricsReply: number;
  metrics: object[];
}

/** This process as one of the supervisor's workers. */
export interface WorkerLink {
  index: number;
  /** Tells the supervisor that this worker serves. */
  listening(port: number): void;
  /** Runs fn once the supervisor is gone (killed without a chance to stop its workers). */
  onSupervisorGone(fn: () => void): void;
  /** Answers the supervisor's scrapes with this worker's metrics. */
  serveMetrics(metrics: Metrics): void;
}

/** The link to the supervisor when this process is one of its workers; undefined otherwise. */
export function workerLink(env: Record<string, string | undefined> = process.env) {
  const raw = env[WORKER_VARIABLE];
  const send = process.send?.bind(process);
  // The variable alone does not make a worker: only a process spawned with the supervisor's channel.
  if (raw === undefined || send === undefined) return undefined;
  const link: WorkerLink = {
    index: Number(raw),
    listening: (port) => void send({ listening: port } satisfies ListeningMessage),
    onSupervisorGone: (fn) => void process.once("disconnect", fn),
    serveMetrics(metrics) {
      process.on("message", async (message: unknown) => {
        const id = (message as MetricsRequest | null)?.metricsRequest;
        if (typeof id !== "number") return;
        const json = await metrics.registry.getMetricsAsJSON();
        send({ metricsReply: id, metrics: json } satisfies MetricsReply);
      });
    },
  };
  return link;
}

/** Migrations run once, here, before any worker starts: the workers then find nothing to do. */
async function migrateOnce(config: Config, log: Logger): Promise<void> {
  try {
    const database = await openDatabase({ databaseUrl: config.databaseUrl, poolSize: 1 });
    try {
      const applied = await migrate(database.db);
      if (applied.length > 0) log.info("migrated", { migrations: applied });
    } finally {
      await database.close();
    }
  } catch (error) {
    throw explainDatabaseError(config, error);
  }
}

interface Worker {
  index: number;
  child: Subprocess<"ignore", "inherit", "inherit">;
  ready: Promise<void>;
}

type OnMetrics = (reply: MetricsReply) => void;

function spawnWorker(index: number, port: number, onMetrics: OnMetrics): Worker {
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const child = Bun.spawn([process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    env: { ...process.env, PORT: String(port), [WORKER_VARIABLE]: String(index) },
    stdio: ["ignore", "inherit", "inherit"],
    serialization: "json",
    ipc(message: unknown) {
      if (typeof (message as ListeningMessage | null)?.listening === "number") markReady();
      if (typeof (message as MetricsReply | null)?.metricsReply === "number") {
        onMetrics(message as MetricsReply);
      }
    },
  });
  return { index, child, ready };
}

const running = (w: Worker) => w.child.exitCode === null && w.child.signalCode === null;

/**
 * The workers' metrics as one scrape: each running worker sends its registry as JSON over its
 * channel, and counters and histograms are summed (prom-client's cluster aggregation).
 */
function gatheredMetrics(workers: () => Worker[]) {
  let nextId = 0;
  const waiting = new Map<number, (metrics: object[]) => void>();
  const source: MetricsSource = {
    contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE,
    async text() {
      const replies = workers()
        .filter(running)
        .map((w) => {
          const id = nextId++;
          return new Promise<object[] | undefined>((resolve) => {
            const timer = setTimeout(() => {
              waiting.delete(id);
              resolve(undefined);
            }, METRICS_WAIT_MS);
            waiting.set(id, (metrics) => {
              clearTimeout(timer);
              waiting.delete(id);
              resolve(metrics);
            });
            w.child.send({ metricsRequest: id } satisfies MetricsRequest);
          });
        });
      const gathered = (await Promise.all(replies)).filter((m) => m !== undefined);
      return AggregatorRegistry.aggregate(gathered).metrics();
    },
  };
  const onMetrics: OnMetrics = (reply) => waiting.get(reply.metricsReply)?.(reply.metrics);
  return { source, onMetrics };
}

/**
 * WORKERS=N: this process serves nothing. It claims the port, migrates, starts N workers that
 * share the port (SO_REUSEPORT) and waits. SIGTERM or SIGINT is passed on to every worker;
 * a worker that exits on its own stops the others, and the service exits 1 for its own
 * supervisor (systemd, Kubernetes) to restart it whole, as it would a lone server.
 */
export async function superviseWorkers(config: Config, log: Logger): Promise<never> {
  const port = claimPort(config);
  const metricsListener = listenForMetrics(config, log);
  await migrateOnce(config, log);
  // Every worker must derive the same keys: the development key is written once, here.
  if (config.secretKey === undefined) loadOrCreateDevSecret(config.dataDir);

  let stopping = false;
  let failed = false;
  const metrics = gatheredMetrics(() => workers);
  const workers = Array.from({ length: config.workers }, (_, index) =>
    spawnWorker(index, port, metrics.onMetrics),
  );
  metricsListener?.publish(metrics.source);
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    metricsListener?.stop();
    for (const w of workers) if (running(w)) w.child.kill(signal);
    setTimeout(() => {
      const hung = workers.filter(running);
      log.error("workers still running after the grace period: killed", {
        workers: hung.map((w) => w.child.pid),
      });
      for (const w of hung) w.child.kill("SIGKILL");
      process.exit(1);
    }, config.shutdownGraceMs + KILL_MARGIN_MS).unref();
  };
  const exits = workers.map(async (w) => {
    const code = await w.child.exited;
    if (stopping) return;
    failed = true;
    log.error("a worker exited on its own: stopping the others", {
      worker: w.index,
      workerPid: w.child.pid,
      code,
      signal: w.child.signalCode ?? undefined,
    });
    stopAll("SIGTERM");
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (!stopping) log.info("stopping workers", { signal });
      stopAll(signal);
    });
  }

  const started = await Promise.race([
    Promise.all(workers.map((w) => w.ready)).then(() => true),
    Promise.race(exits).then(() => false),
  ]);
  if (started) {
    log.info("workers started", {
      port,
      workers: workers.map((w) => w.child.pid),
      metrics: metricsListener?.url ?? "off",
    });
  }
  await Promise.all(exits);
  const clean = !failed && workers.every((w) => w.child.exitCode === 0);
  log.info("stopped", { exitCodes: workers.map((w) => w.child.exitCode ?? w.child.signalCode) });
  process.exit(clean ? 0 : 1);
}
