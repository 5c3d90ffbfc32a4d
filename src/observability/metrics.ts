import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** What a scrape asks of the running service: subscription positions and the pool. */
export interface MetricsSources {
  /** Per subscription: events of its types committed after its checkpoint, and the oldest's age. */
  subscriptionLag(): Promise<{ name: string; events: number; seconds: number }[]>;
  poolUse(): { total: number; idle: number; waiting: number } | undefined;
}

export type TriggerOutcome =
  | "sent"
  | "accepted"
  | "failed"
  | "refused"
  | "unknown_email"
  | "invalid";

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The service's Prometheus metrics, in a registry of their own (one per runtime, so that
 * several runtimes in one process never share counters). Labels carry routes, statuses and
 * outcomes only: never an email, an address or an id.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly httpRequests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request latency by method, route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly triggers = new Counter({
    name: "password_reset_triggers_total",
    help: "Password reset triggers by outcome (sent, accepted, failed, refused, unknown_email, invalid)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  private readonly emailSends = new Counter({
    name: "email_sends_total",
    help: "Calls to the email provider by result (accepted, refused, error)",
    labelNames: ["mailer", "result"] as const,
    registers: [this.registry],
  });
  private readonly emailDuration = new Histogram({
    name: "email_send_duration_seconds",
    help: "Email provider latency per call by result",
    labelNames: ["mailer", "result"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly loopLag = new Gauge({
    name: "event_loop_lag_seconds",
    help: "How late the last event-loop probe ran",
    registers: [this.registry],
  });
  private readonly timer: Timer;

  constructor(sources: MetricsSources) {
    const lagEvents = new Gauge({
      name: "subscription_lag_events",
      help: "Events of a subscription's types committed after its checkpoint",
      labelNames: ["subscription"] as const,
      registers: [this.registry],
    });
    const lagSeconds = new Gauge({
      name: "subscription_lag_seconds",
      help: "Age of the oldest event a subscription has not handled yet (0 when caught up)",
      labelNames: ["subscription"] as const,
      registers: [this.registry],
      async collect() {
        for (const lag of await sources.subscriptionLag().catch(() => [])) {
          lagEvents.set({ subscription: lag.name }, lag.events);
          this.set({ subscription: lag.name }, lag.seconds);
        }
      },
    });
    void lagSeconds;
    new Gauge({
      name: "db_pool_connections",
      help: "Database pool connections by state (total, idle, waiting requests)",
      labelNames: ["state"] as const,
      registers: [this.registry],
      collect() {
        const use = sources.poolUse();
        if (use === undefined) return;
        this.set({ state: "total" }, use.total);
        this.set({ state: "idle" }, use.idle);
        this.set({ state: "waiting" }, use.waiting);
      },
    });
    const PROBE_MS = 500;
    let expected = performance.now() + PROBE_MS;
    this.timer = setInterval(() => {
      const now = performance.now();
      this.loopLag.set(Math.max(0, now - expected) / 1000);
      expected = now + PROBE_MS;
    }, PROBE_MS);
    this.timer.unref();
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  countTrigger(outcome: TriggerOutcome): void {
    this.triggers.inc({ outcome });
  }

  observeSend(mailer: string, result: "accepted" | "refused" | "error", seconds: number): void {
    this.emailSends.inc({ mailer, result });
    this.emailDuration.observe({ mailer, result }, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
