import { Elysia } from "elysia";
import { sql } from "kysely";
import type { AppContext } from "../context";
import { jsonResponse } from "../http/openapi";

const healthSchema = {
  type: "object",
  properties: {
    status: { type: "string", enum: ["ok", "unavailable"] },
    database: { type: "string", enum: ["postgres", "embedded"] },
    subscriptions: { type: "object", additionalProperties: { type: "string" } },
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
        await sql`select 1`.execute(ctx.db);
        return { status: "ok", database: ctx.database.kind, subscriptions };
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
