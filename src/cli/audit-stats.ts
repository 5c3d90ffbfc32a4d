import { auditStats, parseStatsQuery } from "../audit/stats";
import { HttpError } from "../http/errors";
import { fail, openLog, parseOptions } from "./common";

const usage = `usage: npm run audit:stats -- [--from ISO] [--to ISO] [--bucket hour|day]
                            [--email E | --user-id U] [--json]
Event counts by type per UTC hour or day (GET /v1/audit/stats): a table, or the JSON with --json.
Reads DATABASE_URL, or the embedded database under DATA_DIR (stop the server first).`;

const values = parseOptions(
  {
    from: { type: "string" },
    to: { type: "string" },
    bucket: { type: "string" },
    email: { type: "string" },
    "user-id": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  usage,
);

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

const core = await openLog();
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
