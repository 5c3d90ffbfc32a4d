import type { Span } from "@opentelemetry/api";
import { Elysia } from "elysia";
import type { UnknownEmailPolicy } from "../config";
import { clientRequestIdOf, requestIdOf } from "../http/request";
import { enterRequestScope, type Logger, type RequestScope } from "../log";
import type { Metrics, TriggerOutcome } from "./metrics";
import { endRequestSpan, enterRequestSpan } from "./tracing";

const TRIGGER_ROUTE = "/v1/auth/password-reset/trigger";
/** An unmatched path is the caller's text: bounded so a probe cannot fill the log. */
const MAX_LOGGED_PATH = 200;

/** The path of an unmatched request as logged: never its query string, which may hold secrets. */
export function loggedPath(url: string): string {
  const path = new URL(url).pathname;
  return path.length > MAX_LOGGED_PATH ? `${path.slice(0, MAX_LOGGED_PATH)}…` : path;
}

interface Observed extends RequestScope {
  span: Span | undefined;
}

export interface ObservedContext {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly config: { readonly unknownEmail: UnknownEmailPolicy };
}

/** The trigger's answer says its outcome; conceal mode answers 200 before the email's fate. */
function triggerOutcome(status: number, policy: UnknownEmailPolicy): TriggerOutcome {
  if (status === 200) return policy === "conceal" ? "accepted" : "sent";
  if (status === 404) return "unknown_email";
  if (status === 429) return "refused";
  if (status >= 500) return "failed";
  return "invalid";
}

/**
 * Per request: the request id in every log line (through the request scope), a server span,
 * and at the end one access line, the HTTP metrics and the trigger's outcome.
 */
export function observability(ctx: ObservedContext) {
  const scopes = new WeakMap<Request, Observed>();
  return new Elysia({ name: "observability" })
    .onRequest(({ request }) => {
      const scope: Observed = {
        requestId: requestIdOf(request),
        startedAt: performance.now(),
        span: enterRequestSpan(request.method, request.url),
      };
      scopes.set(request, scope);
      enterRequestScope(scope);
    })
    .onAfterResponse({ as: "global" }, (c) => {
      const { request, route, set, responseValue } = c;
      const scope = scopes.get(request);
      if (scope === undefined) return;
      // The error hook's answer sets set.status, except for an unmatched route.
      const status =
        responseValue instanceof Response
          ? responseValue.status
          : "code" in c && c.code === "NOT_FOUND"
            ? 404
            : typeof set.status === "number"
              ? set.status
              : 200;
      // Unmatched paths share one label: a label per probed path would grow without bound.
      const pattern = route || "unmatched";
      const durationMs = performance.now() - scope.startedAt;
      ctx.metrics.observeRequest(request.method, pattern, status, durationMs / 1000);
      if (pattern === TRIGGER_ROUTE) {
        ctx.metrics.countTrigger(triggerOutcome(status, ctx.config.unknownEmail));
      }
      endRequestSpan(scope.span, request.method, pattern, status);
      const clientRequestId = clientRequestIdOf(request);
      ctx.log.info("request", {
        requestId: scope.requestId,
        ...(clientRequestId === undefined ? {} : { clientRequestId }),
        method: request.method,
        route: pattern,
        ...(route ? {} : { path: loggedPath(request.url) }),
        status,
        durationMs: Math.round(durationMs * 10) / 10,
      });
    });
}
