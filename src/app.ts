import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { accountRoutes } from "./accounts/routes";
import { auditPageRoutes } from "./audit/page";
import { auditRoutes } from "./audit/routes";
import type { AppContext } from "./context";
import { errorResponse, HttpError } from "./http/errors";
import { requestIdOf } from "./http/request";
import { operationsRoutes } from "./operations/routes";
import { passwordResetRoutes } from "./password-reset/routes";
import { webhookRoutes } from "./webhooks/routes";

/** Builds the HTTP app from the feature modules; no I/O happens here. */
export function createApp(ctx: AppContext) {
  return new Elysia()
    .use(
      openapi({
        path: "/openapi",
        documentation: {
          openapi: "3.1.0",
          info: {
            title: "Password reset service",
            version: "1.0.0",
            description:
              "Event-sourced account recovery: reset codes by email, and an auditable history of every reset.",
          },
          servers: [{ url: "http://localhost:3000", description: "Local development server" }],
          components: {
            securitySchemes: {
              bearer: {
                type: "http",
                scheme: "bearer",
                description: "A session token, or AUDIT_TOKEN on /v1/audit",
              },
            },
          },
        },
      }),
    )
    .onRequest(({ request, set }) => {
      set.headers["x-request-id"] = requestIdOf(request);
    })
    .onError(({ code, error, request }) => {
      if (error instanceof HttpError)
        return errorResponse(error.status, error.message, error.headers);
      if (code === "NOT_FOUND") return errorResponse(404, "not found");
      if (code === "PARSE" || code === "VALIDATION")
        return errorResponse(400, "invalid request body");
      ctx.log.error("request failed", {
        requestId: requestIdOf(request),
        route: new URL(request.url).pathname,
        error,
      });
      return errorResponse(500, "internal error");
    })
    .use(operationsRoutes(ctx))
    .use(accountRoutes(ctx))
    .use(passwordResetRoutes(ctx))
    .use(auditRoutes(ctx))
    .use(auditPageRoutes())
    .use(webhookRoutes(ctx));
}

export type App = ReturnType<typeof createApp>;
