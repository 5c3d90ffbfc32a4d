import type { Database } from "../db";
import { type EventStore, type ReactorHandler, subscriptionLag } from "../event-store";
import type { Mailer, SendOutcome } from "../mail/mailer";
import type { Metrics, MetricsSources } from "./metrics";
import { currentTraceContext, inSpan, SpanKind, traceContextOf, tracingEnabled } from "./tracing";

/** Each append is a span, and its events carry the trace context for their subscribers. */
export function instrumentStore(store: EventStore): void {
  if (!tracingEnabled()) return;
  store.onAppend({
    around: (append) => inSpan("event-store append", append),
    writes: (writes) => {
      const carried = currentTraceContext();
      return writes.map((w) => ({
        ...w,
        events: w.events.map((e) => ({ ...e, metadata: { ...carried, ...e.metadata } })),
      }));
    },
  });
}

/** A subscriber's handling of an event continues the trace its metadata carries. */
export function tracedReactor(name: string, handler: ReactorHandler): ReactorHandler {
  if (!tracingEnabled()) return handler;
  return {
    ...handler,
    handle: (event, context) =>
      inSpan(`${name} ${event.type}`, () => handler.handle(event, context), {
        parent: traceContextOf(event.metadata),
        kind: SpanKind.CONSUMER,
      }),
  };
}

const instrumented = new WeakSet<Mailer>();

/**
 * Every provider call counted by result and timed, in a span of its own. The mailer is
 * wrapped in place, so that its other methods keep their own `this`; once only.
 */
export function instrumentMailer(mailer: Mailer, metrics: Metrics): Mailer {
  if (instrumented.has(mailer)) return mailer;
  instrumented.add(mailer);
  const observed =
    <A>(spanName: string, call: (arg: A, timeoutMs: number) => Promise<SendOutcome>) =>
    (arg: A, timeoutMs: number) =>
      inSpan(
        spanName,
        async () => {
          const started = performance.now();
          try {
            const outcome = await call(arg, timeoutMs);
            const seconds = (performance.now() - started) / 1000;
            metrics.observeSend(mailer.name, outcome.ok ? "accepted" : "refused", seconds);
            return outcome;
          } catch (error) {
            metrics.observeSend(mailer.name, "error", (performance.now() - started) / 1000);
            throw error;
          }
        },
        { kind: SpanKind.CLIENT },
      );
  mailer.send = observed(`${mailer.name} send`, mailer.send.bind(mailer));
  // A batch is one provider call: timed and counted as one, whatever its recipients.
  if (mailer.sendBatch) {
    mailer.sendBatch = observed(`${mailer.name} send batch`, mailer.sendBatch.bind(mailer));
  }
  return mailer;
}

/** What /metrics reads at scrape time: the checkpoints in the database and the pool. */
export function metricsSources(
  database: Database,
  subscriptions: { name: string; types: string[] }[],
): MetricsSources {
  return {
    async subscriptionLag() {
      return Promise.all(
        subscriptions.map(async (subscription) => {
          const { events, oldest } = await subscriptionLag(database.db, subscription);
          return {
            name: subscription.name,
            events,
            seconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest.getTime()) / 1000),
          };
        }),
      );
    },
    poolUse: () => database.poolUse?.(),
  };
}
