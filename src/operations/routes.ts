import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { jsonResponse } from "../http/openapi";
import { checkLogProtection } from "./log-protection";

const healthSchema = {
  type: "object",
  properties: {
    status: { type: "string", enum: ["ok", "unavailable"] },
    database: { type: "string", enum: ["postgres", "embedded"] },
    subscriptions: { type: "object", additionalProperties: { type: "string" } },
    log_protection: {
      type: "string",
      enum: ["protected", "unprotected"],
      description:
        "unprotected: the server's own database role could rewrite the event log (README: Running with least privilege)",
    },
  },
  required: ["status"],
} as const;

export function operationsRoutes(ctx: AppContext) {
  return new Elysia({ name: "operations" }).get(
    "/v1/health",
    async ({ set }) => {
      const subscriptions = Object.fromEntries(
        ctx.subscriptions.map((s) => [s.name, s.isOwner ? "owner" : "standby"]),
      );
      try {
        // The privilege check is the database round trip: it answers only when the database does.
        const { protection } = await checkLogProtection(ctx.database);
        return {
          status: "ok",
          database: ctx.database.kind,
          log_protection: protection,
          subscriptions,
        };
      } catch {
        set.status = 503;
        return { status: "unavailable", database: ctx.database.kind, subscriptions };
      }
    },
    {
      detail: {
        tags: ["Operations"],
        summary: "Health",
        operationId: "health",
        responses: {
          "200": jsonResponse("The database answers", {
            schema: healthSchema,
            example: {
              status: "ok",
              database: "postgres",
              log_protection: "protected",
              subscriptions: { "reset-mailer": "owner" },
            },
          }),
          "503": jsonResponse("The database does not answer", {
            schema: healthSchema,
            example: { status: "unavailable", database: "postgres" },
          }),
        },
      },
    },
  );
}
