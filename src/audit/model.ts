import { isValidEmail, normaliseEmail } from "../accounts/rules";
import { HttpError } from "../http/errors";

export interface AuditFilters {
  email?: string;
  userId?: string;
  types?: string[];
  from?: Date;
  to?: Date;
  /** The global position of the last event already seen. */
  after?: number;
  limit: number;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string) => UUID.test(value);
const TYPE = /^[A-Za-z]{1,64}$/;
export const invalid = (name: string) => new HttpError(400, `invalid query parameter: ${name}`);

export function instant(value: string, name: string): Date {
  // ISO 8601: a date, optionally a time and zone. Date.parse alone accepts too much and rolls
  // impossible dates over (2024-02-30 would become March 1), so every field is checked.
  const m = value.match(
    /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/,
  );
  if (!m) throw invalid(name);
  const [year, month, day, hour = 0, minute = 0, second = 0] = m
    .slice(1, 7)
    .map((v) => Number(v ?? 0));
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
  const real =
    calendar.getUTCFullYear() === year &&
    calendar.getUTCMonth() === (month ?? 1) - 1 &&
    calendar.getUTCDate() === day &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59;
  const date = new Date(value);
  if (!real || Number.isNaN(date.getTime())) throw invalid(name);
  return date;
}

/** The audit query's filters from repeated-or-single string parameters; 400 names the bad one. */
export function parseAuditQuery(params: Record<string, string[] | undefined>): AuditFilters {
  const one = (name: string): string | undefined => {
    const values = params[name];
    if (values === undefined || values.length === 0) return undefined;
    if (values.length > 1) throw invalid(name);
    return values[0];
  };
  const filters: AuditFilters = { limit: DEFAULT_LIMIT };

  const email = one("email");
  if (email !== undefined) {
    const normalised = normaliseEmail(email);
    if (!isValidEmail(normalised)) throw invalid("email");
    filters.email = normalised;
  }
  const userId = one("user_id");
  if (userId !== undefined) {
    if (!UUID.test(userId)) throw invalid("user_id");
    filters.userId = userId.toLowerCase();
  }
  const types = params.type;
  if (types !== undefined && types.length > 0) {
    if (types.length > 32 || !types.every((t) => TYPE.test(t))) throw invalid("type");
    filters.types = types;
  }
  const from = one("from");
  if (from !== undefined) filters.from = instant(from, "from");
  const to = one("to");
  if (to !== undefined) filters.to = instant(to, "to");
  const after = one("after");
  if (after !== undefined) {
    if (!/^\d{1,15}$/.test(after)) throw invalid("after");
    filters.after = Number(after);
  }
  const limit = one("limit");
  if (limit !== undefined) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT)
      throw invalid("limit");
    filters.limit = Number(limit);
  }
  return filters;
}

/** URLSearchParams → the multi-map parseAuditQuery takes. */
export function queryParams(url: URL): Record<string, string[]> {
  const params: Record<string, string[]> = {};
  for (const key of new Set(url.searchParams.keys())) params[key] = url.searchParams.getAll(key);
  return params;
}

export interface AuditEvent {
  position: number;
  stream: string;
  version: number;
  type: string;
  recorded_at: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}
