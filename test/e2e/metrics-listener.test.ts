/**
 * Metrics off the public port (README: Operating it): /metrics is a JSON 404 on the API port and
 * Prometheus text on its own listener (METRICS_HOST:METRICS_PORT, loopback by default), which
 * asks for METRICS_TOKEN when one is set, stops with the server, can be turned off, and whose
 * port being taken stops start-up with one line naming METRICS_PORT.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { refusesToStart, register, trigger, uniqueEmail, useDeployment } from "../support/e2e";
import { logLines, type ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

const TOKEN = `metrics-${randomBytes(12).toString("hex")}`;
const deployment = useDeployment({ METRICS_TOKEN: TOKEN });
let server: ServerProcess;

beforeAll(async () => {
  server = await deployment.start();
});

function metricsUrl(s: ServerProcess): string {
  if (s.metricsUrl === undefined) throw new Error(`no metrics listener:\n${s.output()}`);
  return s.metricsUrl;
}

const scrape = (s: ServerProcess, token?: string) =>
  fetch(
    metricsUrl(s),
    token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
  );

describe("the API port", () => {
  test("GET /metrics is a JSON 404, like any unknown route", async () => {
    const res = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
    expect(await res.json()).toEqual({ error: "not found" });
  });

  test("the OpenAPI document lists no /metrics", async () => {
    const document = (await (await fetch(`${server.url}/openapi/json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(document.paths)).not.toContain("/metrics");
    expect(Object.keys(document.paths)).toContain("/v1/health");
  });
});

describe("the metrics listener", () => {
  test("is on loopback by default and answers Prometheus text to the token", async () => {
    expect(metricsUrl(server)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(metricsUrl(server)).port).not.toBe(new URL(server.url).port);
    const res = await scrape(server, TOKEN);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type") ?? "").toStartWith("text/plain");
    const text = await res.text();
    expect(text).toContain("# TYPE http_requests_total counter");
    expect(text).toContain("# TYPE password_reset_triggers_total counter");
  });

  test("without the token, or with a wrong one: 401 and no metrics", async () => {
    for (const token of [undefined, "", `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const res = await scrape(server, token);
      expect({ token, status: res.status }).toEqual({ token, status: 401 });
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      const body = await res.text();
      expect(body).toBe('{"error":"unauthorized"}');
    }
  });

  test("serves nothing but /metrics", async () => {
    const base = new URL(metricsUrl(server));
    for (const path of ["/", "/v1/health", "/metrics/x", "/openapi"]) {
      const res = await fetch(new URL(path, base), {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect({ path, status: res.status, body: await res.json() }).toEqual({
        path,
        status: 404,
        body: { error: "not found" },
      });
    }
    const post = await fetch(base, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(post.status).toBe(405);
  });

  test("no secret in the start line: the token is told as an auth mode only", () => {
    const start = logLines(server.output()).find((l) => l.msg === "listening");
    expect(start).toMatchObject({ metrics: metricsUrl(server), metricsAuth: "bearer" });
    expect(server.output()).not.toContain(TOKEN);
  });
});

describe("lifecycle", () => {
  test("SIGTERM closes the metrics listener at once, while in-flight requests drain", async () => {
    const scrapeUrl = metricsUrl(server);
    const email = uniqueEmail("metrics-drain");
    await register(server.url, email);
    await deployment.fake.setMode({ delayMs: 1_500 });
    const answer = trigger(server.url, email);
    await waitFor(() => deployment.fake.attempts.some((a) => a.outcome === "pending"), {
      what: "a send in flight",
    });
    server.process.kill("SIGTERM");
    await waitFor(() => logLines(server.output()).some((l) => l.msg === "stopping"), {
      what: "the stopping line",
    });
    const during = await fetch(scrapeUrl, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
      (r) => r.status,
      () => "refused",
    );
    expect(during).toBe("refused");
    expect(server.process.exitCode).toBeNull();
    expect((await answer).status).toBe(200);
    expect(await server.process.exited).toBe(0);
    await deployment.fake.setMode({ delayMs: 0 });
  });

  test("METRICS_PORT=off: no metrics listener, and the start line says so", async () => {
    server = await deployment.start({ METRICS_PORT: "off" });
    expect(server.metricsUrl).toBeUndefined();
    const start = logLines(server.output()).find((l) => l.msg === "listening");
    expect(start?.metrics).toBe("off");
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    await server.stop();
  });

  test("a METRICS_PORT in use stops start-up with one line naming it", async () => {
    const holder = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    try {
      const line = await refusesToStart({ METRICS_PORT: String(holder.port) }, "METRICS_PORT");
      expect(line).toContain(`127.0.0.1:${holder.port} is already in use`);
    } finally {
      await holder.stop(true);
    }
  });

  test("bad METRICS_PORT, METRICS_HOST or METRICS_TOKEN values stop start-up naming them", async () => {
    await refusesToStart({ METRICS_PORT: "scrape" }, "METRICS_PORT");
    await refusesToStart({ METRICS_PORT: "70000" }, "METRICS_PORT");
    await refusesToStart({ METRICS_HOST: "http://x" }, "METRICS_HOST");
    await refusesToStart({ METRICS_TOKEN: "short" }, "METRICS_TOKEN");
  });
});
