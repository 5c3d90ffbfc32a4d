import type { AuditEvent } from "./model";

export type ExportFormat = "ndjson" | "csv";

export const exportTypes: Record<ExportFormat, string> = {
  ndjson: "application/x-ndjson; charset=utf-8",
  csv: "text/csv; charset=utf-8",
};

export const CSV_HEADER = "position,recorded_at,stream,version,type,data,metadata";

const csvCell = (value: unknown) => {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** One event as a line of the export (without the newline). */
export function exportLine(format: ExportFormat, e: AuditEvent): string {
  if (format === "ndjson") return JSON.stringify(e);
  return [e.position, e.recorded_at, e.stream, e.version, e.type, e.data, e.metadata]
    .map(csvCell)
    .join(",");
}
