import { createApp } from "./app";
import { ConfigError, loadConfig } from "./config";
import { createRuntime } from "./runtime";

async function main() {
  const config = loadConfig();
  const runtime = await createRuntime(config);
  await runtime.start();
  const app = createApp(runtime).listen({ port: config.port, hostname: "0.0.0.0" });
  runtime.log.info("listening", {
    port: app.server?.port,
    database: runtime.database.kind,
  });

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await app.stop();
    await runtime.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  // A bad configuration is one line naming the variable; anything else keeps its detail on stderr.
  if (error instanceof ConfigError) console.error(`configuration error: ${error.message}`);
  else console.error(`start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
