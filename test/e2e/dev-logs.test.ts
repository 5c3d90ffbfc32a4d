/**
 * Development logs (README: Operating it): with LOG_FORMAT=pretty (the default in development
 * on a terminal; tests are not one) the server writes one short human line per event, the
 * listening line says its URL and an unknown route's access line gives its path, never the query.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { testSecret } from "../support/runtime";
import { type ServerProcess, scratchDir, startServer } from "../support/server";
import { waitFor } from "../support/wait";

const dir = scratchDir();
let server: ServerProcess;

beforeAll(async () => {
  server = await startServer({
    SECRET_KEY: testSecret(),
    DATA_DIR: dir.path,
    LOG_FORMAT: "pretty",
  });
});
afterAll(async () => {
  await server?.stop();
  dir.remove();
});

/** The server's stderr lines: its log (stdout is the console mailer's). */
const logText = () => server.output();

describe("LOG_FORMAT=pretty", () => {
  test("the listening line is one short sentence with the URL", () => {
    const port = new URL(server.url).port;
    const listening = logText()
      .split("\n")
      .find((line) => line.includes("listening on"));
    expect(listening).toMatch(
      new RegExp(
        `^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  listening on http://localhost:${port} · development · embedded database in \\S+ · console mailer · metrics http://127\\.0\\.0\\.1:\\d+/metrics$`,
      ),
    );
    expect((listening ?? "").length).toBeLessThan(200);
  });

  test("an access line per request: method, path, status, duration; no query string, no JSON", async () => {
    expect((await fetch(`${server.url}/v1/health/live`)).status).toBe(200);
    const missing = await fetch(`${server.url}/no/such/route?token=s3cret-query&x=1`);
    expect(missing.status).toBe(404);
    const id = (missing.headers.get("x-request-id") ?? "").slice(0, 8);
    const line = await waitFor(
      () =>
        logText()
          .split("\n")
          .find((l) => l.includes(`req=${id}`)),
      { what: "the unmatched route's access line" },
    );
    expect(line).toMatch(new RegExp(`^\\S+ INFO  GET /no/such/route 404 [\\d.]+ms req=${id}$`));
    expect(logText()).toMatch(/ INFO {2}GET \/v1\/health\/live 200 [\d.]+ms req=/);
    expect(logText()).not.toContain("s3cret-query");
    // Every log line is a human one: none is a JSON object.
    for (const l of logText()
      .split("\n")
      .filter((l) => /^\d\d:\d\d/.test(l) || l.startsWith("{"))) {
      expect(l).not.toStartWith("{");
    }
  });
});
