import { Elysia } from "elysia";
import packageJson from "../../package.json" with { type: "json" };
import type { AppContext } from "../context";
import { jsonResponse } from "../http/openapi";

const indexSchema = {
  type: "object",
  properties: {
    name: { type: "string" },
    version: { type: "string" },
    links: {
      type: "object",
      description: "Where to go next, by name: paths on this server",
      additionalProperties: { type: "string" },
    },
  },
  required: ["name", "version", "links"],
} as const;

/** GET /: what this service is and where its pages, docs and health checks are. */
export function homeRoutes(ctx: Pick<AppContext, "mailCatcher">) {
  const index = {
    name: packageJson.name,
    version: packageJson.version,
    links: {
      openapi: "/openapi",
      openapi_json: "/openapi/json",
      audit: "/audit",
      health: "/v1/health",
      health_live: "/v1/health/live",
      health_ready: "/v1/health/ready",
      // The mail catcher exists only in development with the console mailer.
      ...(ctx.mailCatcher === undefined
        ? {}
        : { mail: "/dev/mail", mail_messages: "/dev/mail/messages" }),
    },
  };
  return new Elysia({ name: "home" }).get("/", () => index, {
    detail: {
      tags: ["Operations"],
      summary: "Index",
      description:
        "The service's name and version, and links to the API docs, the auditors' page, the health checks and, in development with the console mailer, the mail catcher.",
      operationId: "index",
      responses: {
        "200": jsonResponse("The index", {
          schema: indexSchema,
          example: {
            name: "reset-ledger",
            version: "0.1.0",
            links: { openapi: "/openapi", audit: "/audit", health: "/v1/health" },
          },
        }),
      },
    },
  });
}
