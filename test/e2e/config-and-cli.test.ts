/**
 * Configuration and audit CLI details an operator trips over (README: Configuration):
 * each stops with one line that says what to do, or works without what it does not need.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config";
import { runCommand } from "../support/command";
import { refusesToStart } from "../support/e2e";
import { testSecret } from "../support/runtime";
import {
  type ServerProcess,
  scratchDir,
  startExpectingFailure,
  startServer,
} from "../support/server";

const root = join(import.meta.dir, "..", "..");

describe("configuration", () => {
  test("NODE_ENV accepts production, development and test only: a typo stops start-up", async () => {
    const line = await refusesToStart({ NODE_ENV: "prod" }, "NODE_ENV");
    expect(line).toContain("production, development, test");
    for (const value of ["development", "test"] as const) {
      expect(loadConfig({ NODE_ENV: value }).nodeEnv).toBe(value);
    }
    expect(loadConfig({}).production).toBe(false);
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow("SECRET_KEY");
  });

  test("an unreachable database is reported naming DATABASE_URL, without its password", async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const line = await refusesToStart(
      {
        DATABASE_URL: "postgres://reader:hunter2-secret@127.0.0.1:1/ledger",
        SECRET_KEY: testSecret(),
      },
      "DATABASE_URL",
    );
    expect(line).toContain("127.0.0.1:1");
    expect(line).not.toContain("hunter2-secret");
  });

  test("HOST sets the listen address; a URL or a port in it stops start-up", async () => {
    expect(loadConfig({}).host).toBe("0.0.0.0");
    expect(loadConfig({ HOST: "::1" }).host).toBe("::1");
    expect(loadConfig({ HOST: "127.0.0.1" }).host).toBe("127.0.0.1");
    await refusesToStart({ HOST: "http://127.0.0.1:80" }, "HOST");
  });

  test("SESSION_IDLE_SECONDS: 1800 by default, 1 to 86400 seconds; anything else stops start-up", async () => {
    expect(loadConfig({}).sessionIdleSeconds).toBe(1800);
    expect(loadConfig({ SESSION_IDLE_SECONDS: "60" }).sessionIdleSeconds).toBe(60);
    for (const bad of ["0", "86401", "-5", "30m", "1.5"]) {
      expect(() => loadConfig({ SESSION_IDLE_SECONDS: bad })).toThrow("SESSION_IDLE_SECONDS");
    }
    await refusesToStart({ SESSION_IDLE_SECONDS: "soon" }, "SESSION_IDLE_SECONDS");
  });

  test("LOG_LEVEL takes debug, info, warn or error", async () => {
    expect(loadConfig({}).logLevel).toBe("info");
    expect(loadConfig({ LOG_LEVEL: "warn" }).logLevel).toBe("warn");
    await refusesToStart({ LOG_LEVEL: "loud" }, "LOG_LEVEL");
  });
});

describe("README", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");

  test("documents the audit command that works without a global bun", () => {
    expect(readme).toContain("npm run audit -- --email");
    expect(readme).not.toContain("bun run audit");
  });

  test("states the password rules as enforced", () => {
    expect(readme).toMatch(/8 to 256 characters/);
    expect(readme).toMatch(/uppercase letter.*lowercase\s+letter.*digit.*other character/s);
  });
});

describe("the audit CLI on the embedded database", () => {
  const dir = scratchDir();
  const secret = testSecret();
  let server: ServerProcess | undefined;

  const cli = (args: string[], extra: Record<string, string> = {}) =>
    runCommand([process.execPath, "--no-env-file", "src/cli/audit.ts", ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        DATA_DIR: dir.path,
        SECRET_KEY: secret,
        ...extra,
      },
    });

  beforeAll(async () => {
    // The first run creates the embedded database under DATA_DIR.
    const first = await cli(["--json"]);
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: "" });
  });
  afterAll(async () => {
    await server?.stop();
    dir.remove();
  });

  test("does not need AUDIT_TOKEN: a short one is not its business", async () => {
    const res = await cli(["--json"], { AUDIT_TOKEN: "short" });
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: "" });
  });

  test("--from yesterday says what a date must look like", async () => {
    const res = await cli(["--from", "yesterday"]);
    expect(res.code).not.toBe(0);
    expect(res.stdout).toBe("");
    expect(res.stderr.trim().split("\n")).toHaveLength(1);
    expect(res.stderr).toContain("--from");
    expect(res.stderr).toContain("ISO 8601");
    expect(res.stderr).toContain("2026-01-31");
  });

  test("an unknown --type is refused, naming the known types", async () => {
    const res = await cli(["--type", "PasswordResetRequestd"]);
    expect(res.code).not.toBe(0);
    expect(res.stdout).toBe("");
    expect(res.stderr).toContain("PasswordResetRequestd");
    expect(res.stderr).toContain("PasswordResetRequested");
    expect(res.stderr).toContain("UserRegistered");
    const known = await cli(["--type", "PasswordResetRequested", "--json"]);
    expect({ code: known.code, stderr: known.stderr }).toEqual({ code: 0, stderr: "" });
  });

  test("refuses the embedded database while a server holds it, and a second server too", async () => {
    server = await startServer({ DATA_DIR: dir.path, SECRET_KEY: secret });
    const held = await cli(["--json"]);
    expect(held.code).not.toBe(0);
    expect(held.stdout).toBe("");
    expect(held.stderr).toContain(`pid ${server.process.pid}`);
    expect(held.stderr).toContain("stop the server first");

    const second = await startExpectingFailure({ DATA_DIR: dir.path, SECRET_KEY: secret });
    expect(second.code).not.toBe(0);
    expect(second.output.trim().split("\n")).toHaveLength(1);
    expect(second.output).toContain("DATA_DIR");

    await server.stop();
    server = undefined;
    const after = await cli(["--json"]);
    expect({ code: after.code, stderr: after.stderr }).toEqual({ code: 0, stderr: "" });
  });
});
