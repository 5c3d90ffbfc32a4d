import { emailCatalogOf } from "../projections/emails/catalog";
import { createApp } from "./app";
import { ConfigError, loadConfig } from "./config";
import type { AppContext } from "./context";
import { createLogger } from "./log";
import { startTracing } from "./observability/tracing";
import { warnWhenLogUnprotected } from "./operations/log-protection";
import { listenForMetrics } from "./operations/metrics-listener";
import { claimPort, serve } from "./operations/port";
import {
  checkDatabaseUrl,
  explainDatabaseError,
  listenUrl,
  lockEmbeddedDatabase,
  settingsInForce,
  warnAboutEmbeddedProduction,
} from "./operations/startup";
import { superviseWorkers, workerLink } from "./operations/workers";
import { createRuntime } from "./runtime";

async function main() {
  const config = loadConfig();
  // The emails first: a template that cannot be used stops start-up before anything starts.
  const emails = emailCatalogOf(config);
  const worker = workerLink();
  const base = createLogger({ level: config.logLevel, format: config.logFormat });
  if (worker === undefined && config.workers > 1) {
    return superviseWorkers(config, base.child({ pid: process.pid }));
  }
  const log = worker === undefined ? base : base.child({ worker: worker.index, pid: process.pid });
  // A port in use stops start-up before the database is touched (workers: their supervisor did).
  if (worker === undefined) claimPort(config);
  // Bound first: a taken METRICS_PORT stops start-up before any database work. Workers have
  // none of their own: their supervisor's listener gathers theirs.
  const metricsListener = worker === undefined ? listenForMetrics(config, log) : undefined;
  await checkDatabaseUrl(config);
  const tracing = startTracing();
  const unlock = config.databaseUrl === undefined ? lockEmbeddedDatabase(config.dataDir) : () => {};
  let runtime: AppContext;
  try {
    runtime = await createRuntime(config, { log, emails });
    await runtime.start();
  } catch (error) {
    unlock();
    throw explainDatabaseError(config, error);
  }
  let server: ReturnType<typeof serve>;
  try {
    server = serve(createApp(runtime), config, worker !== undefined);
  } catch (error) {
    await runtime.stop();
    unlock();
    throw error;
  }
  if (config.production) await warnWhenLogUnprotected(runtime.database, log);
  warnAboutEmbeddedProduction(config, log);
  metricsListener?.publish(runtime.metrics);
  worker?.serveMetrics(runtime.metrics);
  log.info("listening", {
    url: listenUrl(config.host, server.port ?? config.port),
    port: server.port,
    ...settingsInForce(config),
    metrics: metricsListener?.url ?? "off",
    tracing: tracing === undefined ? "off" : "otlp",
  });
  worker?.listening(server.port ?? config.port);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const startedAt = Date.now();
    const graceMs = config.shutdownGraceMs;
    log.info("stopping", { signal, inFlight: server.pendingRequests, graceMs });
    // The grace period bounds the whole stop, whatever hangs: the process ends by then.
    setTimeout(() => {
      log.error("shutdown grace period over: exiting with work unfinished", { graceMs });
      process.exit(1);
    }, graceMs).unref();
    metricsListener?.stop();
    // Stop accepting at once; requests already in flight keep their subscribers until they end.
    const drained = await Promise.race([
      server.stop(false).then(() => true),
      Bun.sleep(Math.floor(graceMs * 0.8)).then(() => false),
    ]);
    if (!drained) {
      log.warn("in-flight requests cut at the end of the grace period", {
        inFlight: server.pendingRequests,
      });
      await server.stop(true);
    }
    await runtime.stop();
    unlock();
    await tracing?.shutdown().catch(() => {});
    log.info("stopped", { signal, durationMs: Date.now() - startedAt });
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  worker?.onSupervisorGone(() => void shutdown("supervisor gone"));
}

main().catch((error: unknown) => {
  // A bad configuration is one line naming the variable; anything else keeps its detail on stderr.
  if (error instanceof ConfigError) console.error(`configuration error: ${error.message}`);
  else console.error(`start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
