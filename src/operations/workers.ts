import type { Subprocess } from "bun";
import type { Config } from "../config";
import { migrate, openDatabase } from "../db";
import type { Logger } from "../log";
import { loadOrCreateDevSecret } from "../privacy";
import { claimPort } from "./port";
import { explainDatabaseError } from "./startup";

/** Set by the supervisor in each worker's environment: the worker's index. */
const WORKER_VARIABLE = "RESET_LEDGER_WORKER";
/** How long past SHUTDOWN_GRACE_MS the supervisor waits before it kills a worker that hangs. */
const KILL_MARGIN_MS = 5_000;

interface ListeningMessage {
  listening: number;
}

/** This process as one of the supervisor's workers. */
export interface WorkerLink {
  index: number;
  /** Tells the supervisor that this worker serves. */
  listening(port: number): void;
  /** Runs fn once the supervisor is gone (killed without a chance to stop its workers). */
  onSupervisorGone(fn: () => void): void;
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

function spawnWorker(index: number, port: number): Worker {
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
    },
  });
  return { index, child, ready };
}

const running = (w: Worker) => w.child.exitCode === null && w.child.signalCode === null;

/**
 * WORKERS=N: this process serves nothing. It claims the port, migrates, starts N workers that
 * share the port (SO_REUSEPORT) and waits. SIGTERM or SIGINT is passed on to every worker;
 * a worker that exits on its own stops the others, and the service exits 1 for its own
 * supervisor (systemd, Kubernetes) to restart it whole, as it would a lone server.
 */
export async function superviseWorkers(config: Config, log: Logger): Promise<never> {
  const port = claimPort(config);
  await migrateOnce(config, log);
  // Every worker must derive the same keys: the development key is written once, here.
  if (config.secretKey === undefined) loadOrCreateDevSecret(config.dataDir);

  let stopping = false;
  let failed = false;
  const workers = Array.from({ length: config.workers }, (_, index) => spawnWorker(index, port));
  const stopAll = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
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
    log.info("workers started", { port, workers: workers.map((w) => w.child.pid) });
  }
  await Promise.all(exits);
  const clean = !failed && workers.every((w) => w.child.exitCode === 0);
  log.info("stopped", { exitCodes: workers.map((w) => w.child.exitCode ?? w.child.signalCode) });
  process.exit(clean ? 0 : 1);
}
