import { sql } from "kysely";
import type { AuditEvent } from "../audit/model";
import { MAX_LIMIT, parseAuditQuery } from "../audit/model";
import { type AuditPage, queryAuditEvents } from "../audit/service";
import { HttpError } from "../http/errors";
import { fail, openLog, parseOptions } from "./common";
import { KNOWN_EVENT_TYPES } from "./event-types";

const usage = `usage: npm run audit -- [--email E] [--user-id U] [--type T]... [--from ISO] [--to ISO]
                      [--after POSITION] [--limit N] [--json | --csv]
The reset event history, oldest first: a table by default, NDJSON with --json, CSV with --csv.
Reads DATABASE_URL, or the embedded database under DATA_DIR (stop the server first).
Dates are ISO 8601: 2026-01-31, 2026-01-31T09:30, 2026-01-31T09:30:00Z or with an offset.`;

const optionMessage = (error: HttpError) => error.message.replace("query parameter", "option");

/** The option's message, with what a date must look like when a date was refused. */
function optionDetail(error: HttpError): string {
  const message = optionMessage(error);
  const date = message.match(/: (from|to)$/)?.[1] as "from" | "to" | undefined;
  if (date === undefined) return message;
  return `invalid option: --${date} "${values[date]}" is not an ISO 8601 date or time (for example 2026-01-31, 2026-01-31T09:30:00Z or 2026-01-31T09:30:00+02:00)`;
}

const values = parseOptions(
  {
    email: { type: "string" },
    "user-id": { type: "string" },
    type: { type: "string", multiple: true },
    from: { type: "string" },
    to: { type: "string" },
    after: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
    csv: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  usage,
);
if (values.json && values.csv) fail("choose one of --json and --csv");

const total = values.limit === undefined ? Number.POSITIVE_INFINITY : Number(values.limit);
if (values.limit !== undefined && !(Number.isInteger(total) && total >= 1)) {
  fail("--limit must be a positive integer");
}

let filters: ReturnType<typeof parseAuditQuery>;
try {
  filters = parseAuditQuery({
    email: values.email === undefined ? undefined : [values.email],
    user_id: values["user-id"] === undefined ? undefined : [values["user-id"]],
    type: values.type,
    from: values.from === undefined ? undefined : [values.from],
    to: values.to === undefined ? undefined : [values.to],
    after: values.after === undefined ? undefined : [values.after],
  });
} catch (error) {
  fail(error instanceof HttpError ? optionDetail(error) : String(error));
}

const csvCell = (value: unknown) => {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

function summary(data: Record<string, unknown>): string {
  const text = Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const header = () => {
  if (values.csv) out("position,recorded_at,stream,version,type,data,metadata");
  else if (!values.json) {
    out(`${"POSITION".padStart(9)}  ${"RECORDED AT".padEnd(24)}  ${"TYPE".padEnd(28)}  DATA`);
  }
};
const write = (e: AuditEvent) => {
  if (values.json) out(JSON.stringify(e));
  else if (values.csv) {
    out(
      [e.position, e.recorded_at, e.stream, e.version, e.type, e.data, e.metadata]
        .map(csvCell)
        .join(","),
    );
  } else {
    out(
      `${String(e.position).padStart(9)}  ${e.recorded_at.padEnd(24)}  ${e.type.padEnd(28)}  ${summary(e.data)}`,
    );
  }
};

const core = await openLog();
const unknownTypes = (filters.types ?? []).filter((t) => !KNOWN_EVENT_TYPES.includes(t));
if (unknownTypes.length > 0) {
  // A type the log holds counts as known too, so a newer event type is never refused.
  const { rows } = await sql<{ type: string }>`
    select distinct type from events where type = any(${unknownTypes}::text[])`.execute(core.db);
  const recorded = new Set(rows.map((r) => r.type));
  const unknown = unknownTypes.filter((t) => !recorded.has(t));
  if (unknown.length > 0) {
    await core.database.close();
    fail(`unknown --type ${unknown.join(", ")}; known types: ${KNOWN_EVENT_TYPES.join(", ")}`);
  }
}
try {
  let written = 0;
  let after = filters.after;
  let headerWritten = false;
  for (;;) {
    const limit = Math.min(MAX_LIMIT, total - written);
    const page: AuditPage = await queryAuditEvents(core, { ...filters, after, limit });
    if (!headerWritten) header();
    headerWritten = true;
    for (const event of page.events) write(event);
    written += page.events.length;
    // Progress goes to stderr so that stdout stays a clean export.
    if (written > 0 && written % 10_000 < page.events.length) {
      process.stderr.write(`${written} events\n`);
    }
    if (page.next_after === null || written >= total) break;
    after = page.next_after;
  }
  if (!values.json && !values.csv) process.stderr.write(`${written} events\n`);
} catch (error) {
  if (!(error instanceof HttpError)) throw error;
  process.exitCode = 2;
  process.stderr.write(`${optionMessage(error)}\n`);
} finally {
  await core.database.close();
}
