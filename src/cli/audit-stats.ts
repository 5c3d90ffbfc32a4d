import { parseArgs } from "node:util";
import { auditStats, parseStatsQuery } from "../audit/stats";
import { ConfigError, loadConfig } from "../config";
import { HttpError } from "../http/errors";
import { openCore } from "../runtime";

const usage = `usage: bun run audit:stats -- [--from ISO] [--to ISO] [--bucket hour|day]
                            [--email E | --user-id U] [--json]
Event counts by type per UTC hour or day (GET /v1/audit/stats): a table, or the JSON with --json.
Reads DATABASE_URL, or the embedded database under DATA_DIR (stop the server first).`;

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        from: { type: "string" },
        to: { type: "string" },
        bucket: { type: "string" },
        email: { type: "string" },
        "user-id": { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  }
})();
if (values.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const one = (value: string | undefined) => (value === undefined ? undefined : [value]);
let query: ReturnType<typeof parseStatsQuery>;
try {
  query = parseStatsQuery({
    from: one(values.from),
    to: one(values.to),
    bucket: one(values.bucket),
    email: one(values.email),
    user_id: one(values["user-id"]),
  });
} catch (error) {
  fail(
    error instanceof HttpError ? error.message.replace("query parameter", "option") : String(error),
  );
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  fail(error instanceof ConfigError ? `configuration error: ${error.message}` : String(error));
}

const core = await openCore(config);
try {
  const stats = await auditStats(core, query);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(stats)}\n`);
  } else {
    const types = [...new Set(stats.buckets.flatMap((b) => Object.keys(b.counts)))].sort();
    const width = (type: string) => Math.max(type.length, 6);
    const line = (cells: string[]) => process.stdout.write(`${cells.join("  ")}\n`);
    line(["START".padEnd(24), ...types.map((t) => t.padStart(width(t)))]);
    for (const b of stats.buckets) {
      line([b.start.padEnd(24), ...types.map((t) => String(b.counts[t] ?? 0).padStart(width(t)))]);
    }
  }
} finally {
  await core.database.close();
}
