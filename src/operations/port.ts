import type { Server, TCPSocketListener } from "bun";
import type { Config } from "../config";
import { ConfigError } from "../config";

/** A listen failure as the one-line error naming the setting to change; others pass through. */
function explainListenError(config: Config, port: number, error: unknown): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === "EADDRINUSE") {
    return new ConfigError("PORT", `port ${port} on ${config.host} is already in use`);
  }
  if (code === "EACCES") {
    return new ConfigError("PORT", `not allowed to listen on port ${port}`);
  }
  if (code === "EADDRNOTAVAIL") {
    return new ConfigError("HOST", `${config.host} is not an address of this machine`);
  }
  return error;
}

/**
 * Binds PORT without SO_REUSEPORT and lets it go at once: a port held by any other process,
 * sharing or not, stops start-up here, before the database is opened. Returns the port
 * (PORT=0 becomes the one the kernel chose).
 */
export function claimPort(config: Config): number {
  let listener: TCPSocketListener<undefined>;
  try {
    listener = Bun.listen({
      hostname: config.host,
      port: config.port,
      exclusive: true,
      socket: { data() {} },
    });
  } catch (error) {
    throw explainListenError(config, config.port, error);
  }
  const port = listener.port;
  listener.stop(true);
  return port;
}

interface Listenable {
  listen(options: { port: number; hostname: string; reusePort: boolean }): {
    server: Server<unknown> | null;
  };
}

/**
 * Serves the app on HOST:PORT. Elysia sets SO_REUSEPORT unless told otherwise, which lets a
 * second server (another DATA_DIR, another version) silently take half the connections: only
 * the workers of one WORKERS supervisor share their port.
 */
export function serve(app: Listenable, config: Config, shared: boolean): Server<unknown> {
  let server: Server<unknown> | null;
  try {
    server = app.listen({ port: config.port, hostname: config.host, reusePort: shared }).server;
  } catch (error) {
    throw explainListenError(config, config.port, error);
  }
  if (server === null) throw new Error("the HTTP server did not start");
  return server;
}
