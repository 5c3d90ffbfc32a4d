import { createApp } from "./app";
import { ConfigError, loadConfig } from "./config";
import type { AppContext } from "./context";
import { createLogger } from "./log";
import { startTracing } from "./observability/tracing";
import { warnWhenLogUnprotected } from "./operations/log-protection";
import { listenForMetrics } from "./operations/metrics-listener";
import { explainDatabaseError, lockEmbeddedDatabase, settingsInForce } from "./operations/startup";
import { createRuntime } from "./runtime";

async function main() {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel });
  // Bound first: a taken METRICS_PORT stops start-up before any database work.
  const metricsListener = listenForMetrics(config, log);
  const tracing = startTracing();
  const unlock = config.databaseUrl === undefined ? lockEmbeddedDatabase(config.dataDir) : () => {};
  let runtime: AppContext;
  try {
    runtime = await createRuntime(config, { log });
    await runtime.start();
  } catch (error) {
    unlock();
    throw explainDatabaseError(config, error);
  }
  if (config.production) await warnWhenLogUnprotected(runtime.database, log);
  metricsListener?.publish(runtime.metrics);
  const app = createApp(runtime).listen({ port: config.port, hostname: config.host });
  const server = app.server;
  if (server === null) throw new Error("the HTTP server did not start");
  log.info("listening", {
    port: server.port,
    ...settingsInForce(config),
    metrics: metricsListener?.url ?? "off",
    tracing: tracing === undefined ? "off" : "otlp",
  });

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
}

main().catch((error: unknown) => {
  // A bad configuration is one line naming the variable; anything else keeps its detail on stderr.
  if (error instanceof ConfigError) console.error(`configuration error: ${error.message}`);
  else console.error(`start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
