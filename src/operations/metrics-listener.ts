import { type Config, ConfigError } from "../config";
import { errorResponse } from "../http/errors";
import type { Logger } from "../log";
import { constantTimeEqual } from "../privacy";

/** What a scrape reads: this process's metrics, or its workers' gathered into one text. */
export interface MetricsSource {
  text(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsListener {
  /** Where Prometheus scrapes: `http://METRICS_HOST:<port>/metrics`. */
  readonly url: string;
  /** Starts answering scrapes from these metrics (503 before: the service is still starting). */
  publish(metrics: MetricsSource): void;
  stop(): void;
}

type MetricsSettings = Pick<Config, "metricsPort" | "metricsHost" | "metricsToken">;

async function answer(
  request: Request,
  config: MetricsSettings,
  metrics: MetricsSource | undefined,
  log: Logger,
): Promise<Response> {
  if (new URL(request.url).pathname !== "/metrics") return errorResponse(404, "not found");
  if (request.method !== "GET" && request.method !== "HEAD") {
    return errorResponse(405, "method not allowed", { allow: "GET, HEAD" });
  }
  if (config.metricsToken !== undefined) {
    const given = request.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1] ?? "";
    if (!constantTimeEqual(given, config.metricsToken)) {
      return errorResponse(401, "unauthorized", { "www-authenticate": "Bearer" });
    }
  }
  if (metrics === undefined) return errorResponse(503, "starting");
  try {
    return new Response(await metrics.text(), {
      headers: { "content-type": metrics.contentType, "cache-control": "no-store" },
    });
  } catch (error) {
    log.error("metrics scrape failed", { error });
    return errorResponse(500, "internal error");
  }
}

/**
 * The Prometheus endpoint on a listener of its own (METRICS_HOST:METRICS_PORT), never on the
 * API port: the counters tell known emails from unknown ones. Undefined when METRICS_PORT=off.
 */
export function listenForMetrics(
  config: MetricsSettings,
  log: Logger,
): MetricsListener | undefined {
  if (config.metricsPort === undefined) return undefined;
  let metrics: MetricsSource | undefined;
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: config.metricsHost,
      port: config.metricsPort,
      // A second process on the same port must fail, not share the scrapes at random.
      reusePort: false,
      fetch: (request) => answer(request, config, metrics, log),
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const where = `${config.metricsHost}:${config.metricsPort}`;
    if (code === "EADDRINUSE") throw new ConfigError("METRICS_PORT", `${where} is already in use`);
    throw new ConfigError(
      code === "EACCES" ? "METRICS_PORT" : "METRICS_HOST",
      `cannot listen on ${where}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const host = config.metricsHost.includes(":") ? `[${config.metricsHost}]` : config.metricsHost;
  return {
    url: `http://${host}:${server.port}/metrics`,
    publish(published) {
      metrics = published;
    },
    stop() {
      void server.stop(true);
    },
  };
}
