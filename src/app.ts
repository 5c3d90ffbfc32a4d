import { type AnyElysia, Elysia } from "elysia";
import type { AppContext } from "./context";
import { FEATURES } from "./features";
import { errorResponse, HttpError } from "./http/errors";
import { openApiDocs } from "./http/openapi-docs";
import { requestIdOf } from "./http/request";
import { observability } from "./observability/http";

/** Builds the HTTP app from the feature modules; no I/O happens here. */
export function createApp(ctx: AppContext) {
  const app = new Elysia()
    .use(openApiDocs((): AnyElysia => app))
    .onRequest(({ request, set }) => {
      set.headers["x-request-id"] = requestIdOf(request);
      // API answers carry tokens, users or audit data: no browser or proxy may keep them.
      if (new URL(request.url).pathname.startsWith("/v1/"))
        set.headers["cache-control"] = "no-store";
    })
    .use(observability(ctx))
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
    });
  for (const feature of FEATURES) {
    for (const routes of feature.routes?.(ctx) ?? []) app.use(routes);
  }
  return app;
}

export type App = ReturnType<typeof createApp>;
