import { describe, expect, test } from "bun:test";
import { createLogger, enterRequestScope, prettyLine } from "../../src/log";

function capture(level?: "debug" | "info" | "warn" | "error") {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level, write: (line) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe("the logger", () => {
  test("one JSON object a line with level, time and msg; LOG_LEVEL drops what is below it", () => {
    const { log, lines } = capture("warn");
    log.debug("d");
    log.info("i");
    log.warn("w", { n: 1 });
    log.error("e", { error: new Error("boom") });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ["warn", "w"],
      ["error", "e"],
    ]);
    expect(lines[0]).toMatchObject({ n: 1, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    expect(lines[1]).toMatchObject({
      error: "boom",
      stack: expect.stringContaining("Error: boom"),
    });
  });

  test("secret-named fields are redacted, at the top level and one level down", () => {
    const { log, lines } = capture();
    log.info("login", {
      password: "Hunter2-Passw0rd",
      token: "tok-123",
      body: { new_password: "N3w-Passw0rd!", code: "7GDB-PX75", email: "kept@example.com" },
    });
    const text = JSON.stringify(lines);
    for (const secret of ["Hunter2-Passw0rd", "tok-123", "N3w-Passw0rd!", "7GDB-PX75"]) {
      expect(text).not.toContain(secret);
    }
    expect(lines[0]).toMatchObject({ password: "[redacted]", body: { email: "kept@example.com" } });
  });

  test("a line written inside a request scope carries its request id; a child adds its bindings", async () => {
    const { log, lines } = capture();
    await (async () => {
      enterRequestScope({ requestId: "req-42", startedAt: 0 });
      await Promise.resolve();
      log.child({ component: "mailer" }).info("inside");
    })();
    expect(lines[0]).toMatchObject({ msg: "inside", requestId: "req-42", component: "mailer" });
  });

  test("a child bound to its own request id does not repeat the key", async () => {
    const raw: string[] = [];
    const log = createLogger({ write: (line) => raw.push(line) });
    await (async () => {
      enterRequestScope({ requestId: "outer", startedAt: 0 });
      await Promise.resolve();
      log.child({ requestId: "inner" }).info("bound");
    })();
    expect(raw[0]?.match(/"requestId"/g)).toHaveLength(1);
    expect(JSON.parse(raw[0] ?? "{}")).toMatchObject({ requestId: "inner" });
  });
});

describe("the pretty format (LOG_FORMAT=pretty)", () => {
  function pretty() {
    const lines: string[] = [];
    const log = createLogger({ format: "pretty", write: (line) => lines.push(line) });
    return { log, lines };
  }

  test("one short human line per event: time, level, message, then the fields", () => {
    const { log, lines } = pretty();
    log.warn("lease lost", { subscription: "reset-mailer", attempts: 3 });
    expect(lines).toEqual([
      expect.stringMatching(
        /^\d\d:\d\d:\d\d\.\d{3} WARN {2}lease lost subscription=reset-mailer attempts=3\n$/,
      ),
    ]);
    expect(lines[0]).not.toContain("{");
  });

  test("an access line reads as method, path, status and duration, with a short request id", async () => {
    const { log, lines } = pretty();
    await (async () => {
      enterRequestScope({ requestId: "1a2b3c4d-0000-4000-8000-000000000000", startedAt: 0 });
      await Promise.resolve();
      log.info("request", {
        method: "GET",
        route: "unmatched",
        path: "/no/such/route",
        status: 404,
        durationMs: 1.5,
      });
    })();
    expect(lines[0]).toMatch(/^\S+ INFO {2}GET \/no\/such\/route 404 1\.5ms req=1a2b3c4d\n$/);
  });

  test("the listening line says the URL and what it runs on, in under 160 characters", () => {
    const { log, lines } = pretty();
    log.info("listening", {
      url: "http://localhost:3000",
      port: 3000,
      nodeEnv: "development",
      host: "0.0.0.0",
      logLevel: "info",
      database: "embedded",
      dataDir: "./.data",
      mailer: "console",
      mailFrom: "no-reply@localhost",
      resetCodeTtlSeconds: 600,
      secretKey: "development key under DATA_DIR",
      metrics: "http://127.0.0.1:9464/metrics",
    });
    const line = lines[0] ?? "";
    expect(line).toContain(
      "INFO  listening on http://localhost:3000 · development · embedded database in ./.data · console mailer · metrics http://127.0.0.1:9464/metrics",
    );
    expect(line.length).toBeLessThan(160);
  });

  test("secret-named fields stay redacted; an error's message and stack follow its line", () => {
    const { log, lines } = pretty();
    log.error("send failed", { token: "tok-123", error: new Error("boom") });
    const text = lines.join("");
    expect(text).not.toContain("tok-123");
    expect(text).toContain("token=[redacted]");
    expect(text).toMatch(/ERROR send failed .*error=boom\n.*Error: boom/s);
  });

  test("colour only when asked (a terminal); never in a pipe", () => {
    const record = { level: "warn", time: new Date().toISOString(), msg: "m" };
    expect(prettyLine(record, false)).not.toContain("\x1b[");
    expect(prettyLine(record, true)).toContain("\x1b[33mWARN");
  });
});
