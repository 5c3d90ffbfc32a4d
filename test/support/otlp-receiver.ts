/** A loopback OTLP/HTTP trace receiver (JSON encoding, as the OTLP HTTP exporter sends it). */

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

export interface OtlpReceiver {
  /** The base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter adds /v1/traces). */
  readonly url: string;
  readonly spans: readonly ReceivedSpan[];
  /** Requests that were not OTLP JSON, kept so that a test can say why nothing arrived. */
  readonly rejected: readonly string[];
  stop(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}

interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  attributes?: { key: string; value: OtlpValue }[];
}

interface OtlpExport {
  resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

const attributeValue = (v: OtlpValue) =>
  v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;

export function startOtlpReceiver(): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const type = request.headers.get("content-type") ?? "";
      if (request.method !== "POST" || path !== "/v1/traces" || !type.includes("json")) {
        rejected.push(`${request.method} ${path} ${type}`);
        return new Response("unsupported", { status: 415 });
      }
      const body = (await request.json()) as OtlpExport;
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              traceId: span.traceId ?? "",
              spanId: span.spanId ?? "",
              parentSpanId: span.parentSpanId || undefined,
              name: span.name ?? "",
              kind: span.kind ?? 0,
              attributes: Object.fromEntries(
                (span.attributes ?? []).map((a) => [a.key, attributeValue(a.value)]),
              ),
            });
          }
        }
      }
      return Response.json({ partialSuccess: {} });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    spans,
    rejected,
    stop: () => server.stop(true),
  };
}
