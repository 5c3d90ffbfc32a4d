/**
 * Configuration and audit CLI details an operator trips over (README: Configuration):
 * each stops with one line that says what to do, or works without what it does not need.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { loadConfig } from "../../src/config";
import { runCommand } from "../support/command";
import { onPostgres, TEST_DATABASE_URL } from "../support/database";
import { refusesToStart } from "../support/e2e";
import { testSecret } from "../support/runtime";
import {
  logLines,
  type ServerProcess,
  scratchDir,
  startExpectingFailure,
  startServer,
} from "../support/server";
import { startTcpProxy } from "../support/tcp-proxy";

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

describe("audit tokens and the webhook signing key", () => {
  const token = (n: number) => `tok-${n}-${"s".repeat(20)}`;

  test("AUDIT_TOKENS: name:scope:token entries, several at once; AUDIT_TOKEN beside them is default", () => {
    expect(loadConfig({}).auditTokens).toEqual([]);
    expect(loadConfig({ AUDIT_TOKEN: token(0) }).auditTokens).toEqual([
      { name: "default", scope: "erase", token: token(0) },
    ]);
    const both = loadConfig({
      AUDIT_TOKEN: token(0),
      AUDIT_TOKENS: ` alice:erase:${token(1)} , reports.bot:read:${token(2)}:with-colon`,
    });
    expect(both.auditTokens).toEqual([
      { name: "default", scope: "erase", token: token(0) },
      { name: "alice", scope: "erase", token: token(1) },
      { name: "reports.bot", scope: "read", token: `${token(2)}:with-colon` },
    ]);
  });

  test("a bad AUDIT_TOKENS entry stops start-up with one line naming it, never the token", async () => {
    const bad: [string, string][] = [
      [`${token(1)}`, "entry 1 is not name:scope:token"],
      [`alice:erase:${token(1)},bob:${token(2)}`, "entry 2 is not name:scope:token"],
      [`alice:write:${token(1)}`, 'token "alice": scope must be read or erase'],
      ["alice:read:short-secret", 'token "alice" must be at least 16 characters'],
      [`alice:read:${token(1)},alice:erase:${token(2)}`, 'the name "alice" is given twice'],
      [`alice:read:${token(1)},bob:erase:${token(1)}`, 'tokens "alice" and "bob" are the same'],
      [`al ice:read:${token(1)}`, "entry 1: a name is 1 to 64 letters"],
      [`alice:read:${token(1)},`, "entry 2 is not name:scope:token"],
      [`alice:read:${token(1)} x`, 'token "alice" may hold printable characters only'],
    ];
    for (const [value, problem] of bad) {
      expect(() => loadConfig({ AUDIT_TOKENS: value })).toThrow(`AUDIT_TOKENS: ${problem}`);
    }
    expect(() =>
      loadConfig({ AUDIT_TOKEN: token(0), AUDIT_TOKENS: `default:read:${token(1)}` }),
    ).toThrow('AUDIT_TOKENS: the name "default" is AUDIT_TOKEN\'s');
    const line = await refusesToStart(
      { AUDIT_TOKENS: `alice:erase:${token(1)},bob:admin:${token(2)}` },
      "AUDIT_TOKENS",
    );
    expect(line).toBe(
      'configuration error: AUDIT_TOKENS: token "bob": scope must be read or erase',
    );
    const malformed = await refusesToStart({ AUDIT_TOKENS: token(3) }, "AUDIT_TOKENS");
    expect(malformed).not.toContain(token(3));
  });

  test("MAILGUN_WEBHOOK_SIGNING_KEY: one key, or two while Mailgun's is rotated; not three", async () => {
    expect(loadConfig({}).webhookSigningKeys).toEqual([]);
    expect(loadConfig({ MAILGUN_WEBHOOK_SIGNING_KEY: "key-a" }).webhookSigningKeys).toEqual([
      "key-a",
    ]);
    expect(
      loadConfig({ MAILGUN_WEBHOOK_SIGNING_KEY: "key-new, key-old" }).webhookSigningKeys,
    ).toEqual(["key-new", "key-old"]);
    expect(() => loadConfig({ MAILGUN_WEBHOOK_SIGNING_KEY: "key-a,,key-b" })).toThrow(
      "MAILGUN_WEBHOOK_SIGNING_KEY: an empty key in the list",
    );
    const line = await refusesToStart(
      { MAILGUN_WEBHOOK_SIGNING_KEY: "key-a,key-b,key-c" },
      "MAILGUN_WEBHOOK_SIGNING_KEY",
    );
    expect(line).toContain("at most two keys");
    expect(line).not.toContain("key-a");
  });
});

describe("DATABASE_URL: each failure is one line naming it and the cause", () => {
  const secret = testSecret();
  /** The one line the server prints for this DATABASE_URL, which must name the variable. */
  const refusal = (databaseUrl: string) =>
    refusesToStart({ DATABASE_URL: databaseUrl, SECRET_KEY: secret }, "DATABASE_URL");

  test("no database name: refused before any connection, instead of filling the maintenance database", async () => {
    for (const bare of ["postgres://postgres@127.0.0.1:5432/", "postgresql://db.example:5432"]) {
      expect(() => loadConfig({ DATABASE_URL: bare })).toThrow("DATABASE_URL: names no database");
    }
    const line = await refusal("postgres://postgres@127.0.0.1:5432/");
    expect(line).toBe(
      "configuration error: DATABASE_URL: names no database: add one after the host, e.g. postgres://postgres@127.0.0.1:5432/reset_ledger",
    );
  });

  test("an unknown sslmode is refused, naming the modes", async () => {
    const line = await refusal("postgres://postgres@127.0.0.1:5432/ledger?sslmode=requir");
    expect(line).toContain("sslmode must be one of disable, prefer, require");
  });

  test("connection refused (a closed port on loopback), without the password", async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const line = await refusal("postgres://reader:hunter2-secret@127.0.0.1:1/ledger");
    expect(line).toBe(
      "configuration error: DATABASE_URL: cannot connect to 127.0.0.1:1/ledger: connection refused: nothing listens on that port",
    );
    expect(line).not.toContain("hunter2-secret");
  });

  test("a host name that does not resolve", async () => {
    const line = await refusal("postgres://postgres@reset-ledger-db.invalid:5432/ledger");
    expect(line).toBe(
      "configuration error: DATABASE_URL: cannot connect to reset-ledger-db.invalid:5432/ledger: the host name does not resolve",
    );
  });

  test("a server that accepts the connection and drops it", async () => {
    // A loopback proxy that is cut: it accepts each connection and closes it at once.
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: 1 });
    proxy.cut();
    try {
      const line = await refusal(`postgres://postgres@127.0.0.1:${proxy.port}/ledger`);
      expect(line).toContain(`cannot connect to 127.0.0.1:${proxy.port}/ledger: the server closed`);
    } finally {
      await proxy.close();
    }
  });

  describe.skipIf(!onPostgres)("against a real PostgreSQL (TEST_DATABASE_URL)", () => {
    const server = new URL(TEST_DATABASE_URL ?? "postgres://127.0.0.1:5432/test");
    const address = `${server.hostname}:${server.port || "5432"}`;
    const at = (user: string, database: string, query = "") =>
      `postgres://${user}@${address}/${database}${query}`;

    test("authentication: a role the server does not know", async () => {
      const line = await refusal(at("no_such_role_for_reset_ledger", "postgres"));
      expect(line).toBe(
        `configuration error: DATABASE_URL: cannot connect to ${address}/postgres: authentication failed: role "no_such_role_for_reset_ledger" does not exist`,
      );
    });

    test("a database the server does not have", async () => {
      const line = await refusal(at(server.username || "postgres", "no_such_database_here"));
      expect(line).toBe(
        `configuration error: DATABASE_URL: cannot connect to ${address}/no_such_database_here: database "no_such_database_here" does not exist`,
      );
    });

    test("sslmode=require against a server without SSL: one line, no library warning around it", async () => {
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      const { rows } = await admin.query<{ ssl: string }>("show ssl");
      await admin.end();
      expect(rows[0]?.ssl).toBe("off");
      const line = await refusal(at(server.username || "postgres", "postgres", "?sslmode=require"));
      expect(line).toBe(
        `configuration error: DATABASE_URL: cannot connect to ${address}/postgres: the server does not support SSL (sslmode=disable connects without it)`,
      );
    });

    test("WORKERS=2: the supervisor, which migrates before any worker starts, says the same", async () => {
      const line = await refusesToStart(
        {
          DATABASE_URL: at(server.username || "postgres", "postgres", "?sslmode=require"),
          SECRET_KEY: secret,
          WORKERS: "2",
        },
        "DATABASE_URL",
      );
      expect(line).toBe(
        `configuration error: DATABASE_URL: cannot connect to ${address}/postgres: the server does not support SSL (sslmode=disable connects without it)`,
      );
    });
  });
});

describe("production without surprises", () => {
  const production = {
    NODE_ENV: "production",
    SECRET_KEY: testSecret(),
    MAILGUN_API_KEY: "key-production-test",
    MAILGUN_DOMAIN: "mg.example.com",
    // Nothing is sent: no request reaches the mailer in this test.
    MAILGUN_URL: "http://127.0.0.1:1",
  };

  test("every missing production setting is named in one message", async () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(
      "SECRET_KEY, MAILGUN_API_KEY, MAILGUN_DOMAIN: required when NODE_ENV=production",
    );
    expect(() =>
      loadConfig({
        NODE_ENV: "production",
        SECRET_KEY: testSecret(),
        MAILGUN_DOMAIN: "mg.example.com",
      }),
    ).toThrow("MAILGUN_API_KEY: required when NODE_ENV=production");
    const line = await refusesToStart({ NODE_ENV: "production" }, "SECRET_KEY");
    expect(line).toBe(
      "configuration error: SECRET_KEY, MAILGUN_API_KEY, MAILGUN_DOMAIN: required when NODE_ENV=production",
    );
  });

  test("on the embedded database it starts with one warning saying so; development says nothing", async () => {
    const dir = scratchDir();
    let server: ServerProcess | undefined;
    try {
      server = await startServer({ ...production, DATA_DIR: dir.path });
      const warnings = logLines(server.output()).filter((l) => l.level === "warn");
      expect(warnings).toEqual([
        expect.objectContaining({
          msg: "NODE_ENV=production on the embedded database: one process, data only in DATA_DIR on this machine; set DATABASE_URL for PostgreSQL",
          dataDir: dir.path,
        }),
      ]);
      await server.stop();
      server = await startServer({ SECRET_KEY: production.SECRET_KEY, DATA_DIR: dir.path });
      expect(server.output()).not.toContain("NODE_ENV=production");
    } finally {
      await server?.stop();
      dir.remove();
    }
  });
});

describe("MAIL_TRANSPORTS", () => {
  const hookSecret = `whsec_${Buffer.from("a hook secret of thirty-two bytes").toString("base64")}`;

  test("defaults to mailgun with an API key, else console; an ordered list otherwise", () => {
    expect(loadConfig({}).mailTransports).toEqual(["console"]);
    const mailgun = { MAILGUN_API_KEY: "key-x", MAILGUN_DOMAIN: "mg.example.com" };
    expect(loadConfig(mailgun).mailTransports).toEqual(["mailgun"]);
    const both = loadConfig({
      ...mailgun,
      MAIL_TRANSPORTS: "mailgun, smtp",
      SMTP_URL: "smtp://user:pass@smtp.example.com:587",
    });
    expect(both.mailTransports).toEqual(["mailgun", "smtp"]);
    expect(both.smtp).toEqual({ url: "smtp://user:pass@smtp.example.com:587" });
    // Production without Mailgun in the list needs no Mailgun key.
    const production = loadConfig({
      NODE_ENV: "production",
      SECRET_KEY: testSecret(),
      MAIL_TRANSPORTS: "hook",
      MAIL_HOOK_URL: "https://app.example.com/email",
      MAIL_HOOK_SECRET: hookSecret,
    });
    expect(production.mailHook).toEqual({
      url: "https://app.example.com/email",
      secret: hookSecret,
    });
  });

  test("a bad or missing setting of a listed transport stops start-up with one line naming it", async () => {
    const cases: [Record<string, string>, string][] = [
      [{ MAIL_TRANSPORTS: "mailgun,carrier-pigeon" }, "MAIL_TRANSPORTS"],
      [{ MAIL_TRANSPORTS: "smtp,smtp", SMTP_URL: "smtp://a:b@localhost" }, "MAIL_TRANSPORTS"],
      [{ MAIL_TRANSPORTS: "mailgun" }, "MAILGUN_API_KEY"],
      [{ MAIL_TRANSPORTS: "smtp" }, "SMTP_URL"],
      [{ MAIL_TRANSPORTS: "smtp", SMTP_URL: "http://smtp.example.com" }, "SMTP_URL"],
      [{ MAIL_TRANSPORTS: "hook", MAIL_HOOK_SECRET: hookSecret }, "MAIL_HOOK_URL"],
      [{ MAIL_TRANSPORTS: "hook", MAIL_HOOK_URL: "https://app.example.com/e" }, "MAIL_HOOK_SECRET"],
      [
        {
          MAIL_TRANSPORTS: "hook",
          MAIL_HOOK_URL: "https://app.example.com/e",
          MAIL_HOOK_SECRET: "not-a-secret",
        },
        "MAIL_HOOK_SECRET",
      ],
    ];
    for (const [env, variable] of cases) {
      expect(() => loadConfig(env)).toThrow(variable);
    }
    const line = await refusesToStart({ MAIL_TRANSPORTS: "smtp" }, "SMTP_URL");
    expect(line).toContain("required when MAIL_TRANSPORTS lists smtp");
  });
});

describe("LOG_FORMAT", () => {
  test("pretty in development on a terminal; JSON elsewhere; either when asked", async () => {
    expect(loadConfig({}, true).logFormat).toBe("pretty");
    expect(loadConfig({}, false).logFormat).toBe("json");
    expect(loadConfig({ NODE_ENV: "test" }, true).logFormat).toBe("json");
    const production = {
      NODE_ENV: "production",
      SECRET_KEY: testSecret(),
      MAILGUN_API_KEY: "key-x",
      MAILGUN_DOMAIN: "mg.example.com",
    };
    expect(loadConfig(production, true).logFormat).toBe("json");
    expect(loadConfig({ LOG_FORMAT: "json" }, true).logFormat).toBe("json");
    expect(loadConfig({ LOG_FORMAT: "pretty" }, false).logFormat).toBe("pretty");
    expect(loadConfig({ ...production, LOG_FORMAT: "pretty" }, false).logFormat).toBe("pretty");
    const line = await refusesToStart({ LOG_FORMAT: "text" }, "LOG_FORMAT");
    expect(line).toContain("json, pretty");
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

  test("does not need AUDIT_TOKENS either: a malformed list is not its business", async () => {
    const res = await cli(["--json"], { AUDIT_TOKENS: "alice:admin:short" });
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
