/**
 * What an operator reads (README: Operating it): the access log with request ids, /metrics on its
 * own listener moving with a trigger, and the trigger's trace at a loopback OTLP receiver — request, append, the
 * subscriber's send and the outcome's append in one trace.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  expectAnswer,
  register,
  SENT_BODY,
  TRIGGER,
  trigger,
  uniqueEmail,
  useServer,
} from "../support/e2e";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../support/otlp-receiver";
import { logLines } from "../support/server";
import { waitFor } from "../support/wait";

let receiver: OtlpReceiver;

beforeAll(() => {
  receiver = startOtlpReceiver();
});
const { deployment, server } = useServer(() => ({
  HOST: "127.0.0.1",
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  OTEL_SERVICE_NAME: "reset-ledger-test",
  // Export within a tenth of a second rather than the default five.
  OTEL_BSP_SCHEDULE_DELAY: "100",
}));
afterAll(async () => {
  await receiver?.stop();
});

/** The value of one sample: the metric with exactly these labels (0 when not yet present). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-z_:]+)(?:\{(.*)\})? (\S+)$/);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? "").split(",").filter(Boolean).sort().join(",");
    if (have === wanted) return Number(m[3]);
  }
  return 0;
}

const scrape = async () => {
  if (server.metricsUrl === undefined) throw new Error("the server has no metrics listener");
  const res = await fetch(server.metricsUrl);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type") ?? "").toStartWith("text/plain");
  return res.text();
};

describe("logs", () => {
  test("the start line gives the settings in force and no secret", () => {
    const start = logLines(server.output()).find((l) => l.msg === "listening");
    expect(start).toMatchObject({
      level: "info",
      url: `http://127.0.0.1:${new URL(server.url).port}`,
      host: "127.0.0.1",
      port: expect.any(Number),
      nodeEnv: "development",
      logLevel: "info",
      mailer: "mailgun",
      tracing: "otlp",
      metrics: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/),
      metricsAuth: "none",
    });
    expect(typeof start?.time).toBe("string");
    for (const secret of [deployment.env.SECRET_KEY, deployment.env.MAILGUN_API_KEY]) {
      expect(server.output()).not.toContain(secret as string);
    }
  });

  test("one access line per request, with the request id, method, route, status and duration", async () => {
    const email = uniqueEmail("access");
    await register(server.url, email);
    const sent = `access-${crypto.randomUUID()}`;
    const answer = await trigger(server.url, email, { "x-request-id": sent });
    expectAnswer(answer, 200, SENT_BODY);
    // The service makes the request id (answered in X-Request-Id); the client's is kept apart.
    const id = answer.headers.get("x-request-id") ?? "";
    expect(id).not.toBe(sent);
    const missingAnswer = await fetch(`${server.url}/no/such/route?token=query-secret-42`);
    expect(missingAnswer.status).toBe(404);
    const missing = missingAnswer.headers.get("x-request-id") ?? "";

    const access = (requestId: string) =>
      logLines(server.output()).filter((l) => l.msg === "request" && l.requestId === requestId);
    const [line] = await waitFor(() => access(id).length > 0 && access(id), {
      what: "the access line",
    });
    expect(access(id)).toHaveLength(1);
    expect(line).toMatchObject({
      level: "info",
      method: "POST",
      route: TRIGGER,
      status: 200,
      clientRequestId: sent,
      durationMs: expect.any(Number),
    });
    const [unmatched] = await waitFor(() => access(missing).length > 0 && access(missing));
    // The metrics' label stays "unmatched"; the log line gives the path, never the query.
    expect(unmatched).toMatchObject({
      method: "GET",
      route: "unmatched",
      path: "/no/such/route",
      status: 404,
    });
    expect(server.output()).not.toContain("query-secret-42");
    // Every line, the access lines included, is JSON with the documented fields.
    for (const l of logLines(server.output())) {
      expect(l).toMatchObject({
        level: expect.any(String),
        time: expect.any(String),
        msg: expect.any(String),
      });
    }
  });
});

describe("metrics", () => {
  test("a trigger moves the request, outcome and email counters; no personal data in labels", async () => {
    const email = uniqueEmail("metrics");
    await register(server.url, email);
    const before = await scrape();
    expectAnswer(await trigger(server.url, email), 200, SENT_BODY);
    expect((await trigger(server.url, uniqueEmail("nobody"))).status).toBe(404);
    // A request is counted once its answer has gone out: the scrape may come first.
    const counted = (text: string, outcome: string) =>
      sample(text, "password_reset_triggers_total", { outcome }) >
      sample(before, "password_reset_triggers_total", { outcome });
    const after = await waitFor(
      async () => {
        const text = await scrape();
        return counted(text, "sent") && counted(text, "unknown_email") ? text : undefined;
      },
      { what: "both triggers counted" },
    );

    const moved = (name: string, labels: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels);
    const triggerOk = { method: "POST", route: TRIGGER, status: "200" };
    expect(moved("http_requests_total", triggerOk)).toBe(1);
    expect(moved("http_request_duration_seconds_count", triggerOk)).toBe(1);
    expect(moved("password_reset_triggers_total", { outcome: "sent" })).toBe(1);
    expect(moved("password_reset_triggers_total", { outcome: "unknown_email" })).toBe(1);
    expect(moved("email_sends_total", { mailer: "mailgun", result: "accepted" })).toBe(1);
    expect(
      moved("email_send_duration_seconds_count", { mailer: "mailgun", result: "accepted" }),
    ).toBe(1);

    for (const name of ["subscription_lag_events", "subscription_lag_seconds"]) {
      expect(after).toContain(`${name}{subscription="reset-mailer"}`);
    }
    expect(after).toContain("event_loop_lag_seconds ");
    if (deployment.databaseUrl !== undefined)
      expect(after).toContain('db_pool_connections{state="total"}');
    expect(after).not.toContain("@example.com");
    expect(after).not.toContain("127.0.0.1");
  });
});

describe("traces", () => {
  test("a trigger's trace holds the request, the append, the subscriber's send and the outcome's append", async () => {
    const email = uniqueEmail("traced");
    await register(server.url, email);
    expectAnswer(await trigger(server.url, email), 200, SENT_BODY);

    const requestSpan = await waitFor(
      () =>
        receiver.spans.find((s) => s.name === `POST ${TRIGGER}` && s.parentSpanId === undefined),
      { what: `the trigger's server span (rejected: ${receiver.rejected.join("; ")})` },
    );
    const inTrace = () => receiver.spans.filter((s) => s.traceId === requestSpan.traceId);
    const childrenOf = (parent: ReceivedSpan) =>
      inTrace().filter((s) => s.parentSpanId === parent.spanId);
    const consumer = await waitFor(
      () => inTrace().find((s) => s.name === "reset-mailer PasswordResetRequested"),
      { what: "the subscriber's span in the trigger's trace" },
    );
    await waitFor(
      () => childrenOf(consumer).filter((s) => s.name === "event-store append").length > 0,
      { what: "the outcome's append under the subscriber's span" },
    );

    const requestAppend = childrenOf(requestSpan).find((s) => s.name === "event-store append");
    expect(requestAppend).toBeDefined();
    // The subscriber continues the trace from the event's metadata, under the request's append.
    expect(consumer.parentSpanId).toBe(requestAppend?.spanId);
    expect(childrenOf(consumer).map((s) => s.name)).toContain("mailgun send");
    expect(requestSpan.attributes).toMatchObject({
      "http.route": TRIGGER,
      "http.response.status_code": 200,
    });
  });
});
