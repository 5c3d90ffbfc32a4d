import type { Server } from "bun";
import { Elysia } from "elysia";
import type { AuditToken } from "../config";
import type { AppContext } from "../context";
import { HttpError, tooManyRequests } from "../http/errors";
import { apiError, jsonResponse, tooManyRequestsResponse } from "../http/openapi";
import { clientIpOf, requestIdOf } from "../http/request";
import { limits } from "../rate-limits/gcra";
import { clientLimitKey, refundWindow, takeWindow } from "../rate-limits/store";
import { CSV_HEADER, type ExportFormat, exportLine, exportTypes } from "./export";
import {
  type AuditFilters,
  invalid,
  isUuid,
  MAX_LIMIT,
  parseAuditQuery,
  queryParams,
} from "./model";
import { erasePersonalData, queryAuditEvents } from "./service";
import { auditStats, parseStatsQuery } from "./stats";
import { auditTokenMatcher } from "./tokens";

type Authorize = (request: Request, server: Server<unknown> | null) => Promise<AuditToken>;

/**
 * A bearer token among the configured ones, compared in constant time; the API is off when
 * none is configured. Wrong or missing tokens are limited per client address, and while that
 * limit refuses, a right token is refused too, so a guesser learns nothing from the answer to
 * a lucky guess. Answers the token presented, for its scope and its name.
 */
function authorizer(ctx: AppContext): Authorize {
  const match = auditTokenMatcher(ctx.config.auditTokens);
  return async (request, server) => {
    if (ctx.config.auditTokens.length === 0) throw new HttpError(503, "audit api disabled");
    const ip = clientIpOf(request, server, ctx.config.trustProxy);
    const key = clientLimitKey(ctx.keyring, "audit-auth-ip", ip);
    // Every check holds a hit until the token proves right, so concurrent guesses cannot outrun it.
    const hit = ctx.config.rateLimits
      ? await takeWindow(ctx.db, key, limits.failedAuditAuthPerIp)
      : undefined;
    if (hit?.allowed === false) throw tooManyRequests(hit.retryAfterMs / 1000);
    const given = request.headers.get("authorization")?.match(/^Bearer (.+)$/)?.[1] ?? "";
    const token = match(given);
    if (token === undefined) throw new HttpError(401, "unauthorized");
    if (hit) await refundWindow(ctx.db, key, hit);
    return token;
  };
}

const auditEventSchema = {
  type: "object",
  properties: {
    position: { type: "integer" },
    stream: { type: "string" },
    version: { type: "integer" },
    type: { type: "string" },
    recorded_at: { type: "string", format: "date-time" },
    data: { type: "object", additionalProperties: true },
    metadata: { type: "object", additionalProperties: true },
  },
  required: ["position", "stream", "version", "type", "recorded_at", "data", "metadata"],
} as const;

const exampleEvent = {
  position: 1042,
  stream: "password-reset-3f0c2a6e-1b7d-8e44-9a51-6c0d2e8f4b19",
  version: 3,
  type: "PasswordResetRequested",
  recorded_at: "2026-11-27T10:00:00.000Z",
  data: {
    requestId: "5b8e0d7c-2f1a-4c39-8e6d-0a9b7c3e1f42",
    userId: "0193b8f2-5c4e-7d3a-9f10-2b6c8d4e1a77",
    email: "user@example.com",
    ip: "203.0.113.7",
    userAgent: "Mozilla/5.0",
    expiresAt: "2026-11-27T10:10:00.000Z",
    dispatchDeadline: "2026-11-27T10:00:09.750Z",
  },
  metadata: { requestId: "0d4f…", correlationId: "5b8e0d7c-2f1a-4c39-8e6d-0a9b7c3e1f42" },
};

const authErrors = {
  "401": jsonResponse("Missing or wrong token", apiError("unauthorized")),
  "429": tooManyRequestsResponse,
  "503": jsonResponse("No audit token configured", apiError("audit api disabled")),
};

function exportFormat(values: string[] | undefined): ExportFormat | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const [format] = values;
  if (values.length > 1 || (format !== "ndjson" && format !== "csv")) throw invalid("format");
  return format;
}

/**
 * The whole history for the filters as one download, page after page. The first page is read
 * before answering, so a bad `after` is still a 400.
 */
async function exportResponse(
  ctx: AppContext,
  filters: AuditFilters,
  format: ExportFormat,
): Promise<Response> {
  const encoder = new TextEncoder();
  let page = await queryAuditEvents(ctx, { ...filters, limit: MAX_LIMIT });
  let started = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const lines = page.events.map((e) => `${exportLine(format, e)}\n`);
      if (!started && format === "csv") lines.unshift(`${CSV_HEADER}\n`);
      started = true;
      if (lines.length > 0) controller.enqueue(encoder.encode(lines.join("")));
      if (page.next_after === null) {
        controller.close();
        return;
      }
      try {
        page = await queryAuditEvents(ctx, {
          ...filters,
          after: page.next_after,
          limit: MAX_LIMIT,
        });
      } catch (error) {
        ctx.log.error("audit export failed", { error });
        controller.error(error);
      }
    },
  });
  return new Response(body, {
    headers: {
      "content-type": exportTypes[format],
      "content-disposition": `attachment; filename="audit-events.${format}"`,
      "cache-control": "no-store",
    },
  });
}

export function auditRoutes(ctx: AppContext) {
  const authorize = authorizer(ctx);
  return new Elysia({ name: "audit" })
    .get(
      "/v1/audit/events",
      async ({ request, server }) => {
        await authorize(request, server);
        const params = queryParams(new URL(request.url));
        const filters = parseAuditQuery(params);
        const format = exportFormat(params.format);
        if (format !== undefined) return exportResponse(ctx, filters, format);
        return queryAuditEvents(ctx, filters);
      },
      {
        detail: {
          tags: ["Audit"],
          summary: "Reset event history",
          description:
            'The reset history, oldest first (commit order), filtered and paginated. Personal data is unsealed for live users and shown as "[erased]" for erased ones; codes, code hashes and password hashes are never shown.',
          operationId: "auditEvents",
          security: [{ bearer: [] }],
          parameters: [
            { name: "email", in: "query", schema: { type: "string", format: "email" } },
            { name: "user_id", in: "query", schema: { type: "string", format: "uuid" } },
            {
              name: "type",
              in: "query",
              description: "Repeatable: events of any of these types",
              schema: { type: "array", items: { type: "string" } },
              style: "form",
              explode: true,
            },
            { name: "from", in: "query", schema: { type: "string", format: "date-time" } },
            { name: "to", in: "query", schema: { type: "string", format: "date-time" } },
            {
              name: "after",
              in: "query",
              description: "Continue after this global position (the previous page's next_after)",
              schema: { type: "integer" },
            },
            {
              name: "limit",
              in: "query",
              schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
            },
            {
              name: "format",
              in: "query",
              description:
                "ndjson or csv: every matching event (all pages) as one download instead of a JSON page",
              schema: { type: "string", enum: ["ndjson", "csv"] },
            },
          ],
          responses: {
            "200": jsonResponse("A page of events", {
              schema: {
                type: "object",
                properties: {
                  events: { type: "array", items: auditEventSchema },
                  next_after: { type: ["integer", "null"] },
                },
                required: ["events", "next_after"],
              },
              example: { events: [exampleEvent], next_after: null },
            }),
            "400": jsonResponse("A bad filter", apiError("invalid query parameter: limit")),
            ...authErrors,
          },
        },
      },
    )
    .get(
      "/v1/audit/stats",
      async ({ request, server, set }) => {
        await authorize(request, server);
        const query = parseStatsQuery(queryParams(new URL(request.url)));
        set.headers["cache-control"] = "no-store";
        return auditStats(ctx, query);
      },
      {
        detail: {
          tags: ["Audit"],
          summary: "Event counts over time",
          description:
            "Counts of events by type per UTC hour or day, for all accounts or one (email or user_id). `from` is rounded down and `to` up to whole buckets; every bucket of the range is listed. Refusals recorded counted add their count.",
          operationId: "auditStats",
          security: [{ bearer: [] }],
          parameters: [
            { name: "from", in: "query", schema: { type: "string", format: "date-time" } },
            { name: "to", in: "query", schema: { type: "string", format: "date-time" } },
            {
              name: "bucket",
              in: "query",
              schema: { type: "string", enum: ["hour", "day"], default: "hour" },
            },
            { name: "email", in: "query", schema: { type: "string", format: "email" } },
            { name: "user_id", in: "query", schema: { type: "string", format: "uuid" } },
          ],
          responses: {
            "200": jsonResponse("Counts per bucket", {
              schema: {
                type: "object",
                properties: {
                  bucket: { type: "string", enum: ["hour", "day"] },
                  from: { type: "string", format: "date-time" },
                  to: { type: "string", format: "date-time" },
                  buckets: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: {
                        start: { type: "string", format: "date-time" },
                        counts: { type: "object", additionalProperties: { type: "integer" } },
                      },
                      required: ["start", "counts"],
                    },
                  },
                },
                required: ["bucket", "from", "to", "buckets"],
              },
              example: {
                bucket: "hour",
                from: "2026-11-27T10:00:00.000Z",
                to: "2026-11-27T12:00:00.000Z",
                buckets: [
                  {
                    start: "2026-11-27T10:00:00.000Z",
                    counts: { PasswordResetRequested: 12, PasswordResetCompleted: 9 },
                  },
                  { start: "2026-11-27T11:00:00.000Z", counts: {} },
                ],
              },
            }),
            "400": jsonResponse("A bad filter", apiError("invalid query parameter: bucket")),
            ...authErrors,
          },
        },
      },
    )
    .delete(
      "/v1/audit/users/:user_id/personal-data",
      async ({ request, server, params, set }) => {
        const token = await authorize(request, server);
        if (token.scope !== "erase") throw new HttpError(403, "forbidden");
        if (!isUuid(params.user_id)) throw new HttpError(400, "invalid user id");
        await erasePersonalData(ctx, params.user_id.toLowerCase(), token.name, {
          requestId: requestIdOf(request),
        });
        set.status = 204;
      },
      {
        detail: {
          tags: ["Audit"],
          summary: "Erase a user's personal data",
          description:
            "Destroys the user's data key and account row and records PersonalDataErased with the name of the token that erased (`erasedBy`). The events stay; their personal data becomes unreadable. Needs a token with the `erase` scope.",
          operationId: "erasePersonalData",
          security: [{ bearer: [] }],
          responses: {
            "204": { description: "Erased (or already erased)" },
            "400": jsonResponse("Not a user id", apiError("invalid user id")),
            "403": jsonResponse("A token with the read scope only", apiError("forbidden")),
            "404": jsonResponse("No such user", apiError("user not found")),
            ...authErrors,
          },
        },
      },
    )
    .get(
      "/audit/status",
      ({ set }) => {
        // Asked by the auditors' page before any token: it spends no attempt of the limit, and
        // tells no more than the 503 every audit route answers anyone when the API is off.
        set.headers["cache-control"] = "no-store";
        return { enabled: ctx.config.auditTokens.length > 0 };
      },
      { detail: { hide: true } },
    );
}
