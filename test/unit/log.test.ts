import { describe, expect, test } from "bun:test";
import { createLogger, enterRequestScope } from "../../src/log";

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
