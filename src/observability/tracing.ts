import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Context,
  type ContextManager,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

/**
 * AsyncLocalStorage-backed context that can also be entered from a hook: Elysia's request
 * hooks cannot wrap the handler, so the request's span is entered, not run.
 */
class ScopeContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const fn = target as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => this.with(ctx, () => fn(...args))) as T;
  }
  enter(ctx: Context): void {
    this.storage.enterWith(ctx);
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

let manager: ScopeContextManager | undefined;
const tracer = () => trace.getTracer("reset-ledger");

export const tracingEnabled = () => manager !== undefined;

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Starts OTLP/HTTP export as the standard OTEL_* variables say; off (undefined) when no OTLP
 * endpoint is set or OTEL_SDK_DISABLED / OTEL_TRACES_EXPORTER=none say so.
 */
export function startTracing(
  env: Record<string, string | undefined> = process.env,
): Tracing | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint || env.OTEL_SDK_DISABLED === "true" || env.OTEL_TRACES_EXPORTER === "none") {
    return undefined;
  }
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || "reset-ledger" }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  manager = new ScopeContextManager();
  context.setGlobalContextManager(manager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return { shutdown: () => provider.shutdown() };
}

/** Opens the server span of a request and makes it current for the rest of the request. */
export function enterRequestSpan(method: string, url: string): Span | undefined {
  if (manager === undefined) return undefined;
  const span = tracer().startSpan(method, {
    kind: SpanKind.SERVER,
    attributes: { "http.request.method": method, "url.path": new URL(url).pathname },
  });
  manager.enter(trace.setSpan(context.active(), span));
  return span;
}

export function endRequestSpan(
  span: Span | undefined,
  method: string,
  route: string,
  status: number,
): void {
  if (span === undefined) return;
  span.updateName(`${method} ${route}`);
  span.setAttribute("http.route", route);
  span.setAttribute("http.response.status_code", status);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** Runs fn in a child span of the current (or the given) context. */
export function inSpan<T>(
  name: string,
  fn: () => Promise<T>,
  options: { parent?: Context; kind?: SpanKind; attributes?: Record<string, string | number> } = {},
): Promise<T> {
  if (manager === undefined) return fn();
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes },
    parent,
    async (span) => {
      try {
        return await fn();
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The current trace context as W3C headers (`traceparent`), for an event's metadata. */
export function currentTraceContext(): Record<string, string> {
  if (manager === undefined) return {};
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The trace context an event's metadata carries, to continue its trace in a subscriber. */
export function traceContextOf(metadata: Record<string, unknown> | undefined): Context {
  if (manager === undefined || metadata === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, metadata, {
    keys: (carrier) => Object.keys(carrier),
    get: (carrier, key) => {
      const value = carrier[key];
      return typeof value === "string" ? value : undefined;
    },
  });
}

export { SpanKind };
