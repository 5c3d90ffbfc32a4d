/**
 * The audit CLI (`bun src/cli/audit.ts`, README: Auditing) as a child process prints the same events
 * as GET /v1/audit/events for the same filters: NDJSON equal event for event, CSV and the table
 * one line per event, bad flags refused in one line. The history is built through the HTTP API
 * of an in-process runtime on a database the CLI can open: a fresh PostgreSQL database
 * (TEST_DATABASE_URL; the runtime stays up while the CLI reads) or an embedded DATA_DIR (single
 * process: the runtime is stopped before each CLI run).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { createApp } from "../../src/app";
import type { AuditEvent } from "../../src/audit/model";
import { loadConfig } from "../../src/config";
import type { AppContext } from "../../src/context";
import { createLogger } from "../../src/log";
import { createRuntime } from "../../src/runtime";
import {
  appClient,
  auditApi,
  buildTimeline,
  leaks,
  secretsOf,
  TIMELINE_TYPES,
  type Timeline,
  waitForAuditHorizon,
} from "../support/audit";
import { runCommand } from "../support/command";
import { createTestDatabase, onPostgres, type TestDatabase } from "../support/database";
import { type FakeMailgun, mailgunEnv, startFakeMailgun } from "../support/fake-mailgun";
import { testSecret } from "../support/runtime";
import { scratchDir } from "../support/server";

const root = join(import.meta.dir, "..", "..");
const TOKEN = `audit-cli-${randomBytes(16).toString("hex")}`;
const ALICE = "audit.cli.alice@example.com";
const BOB = "audit.cli.bob@example.com";
const q = encodeURIComponent;

let fake: FakeMailgun;
let testDb: TestDatabase | undefined;
let dir: ReturnType<typeof scratchDir> | undefined;
/** What the server and the CLI share: the database and SECRET_KEY. */
let env: Record<string, string>;
let runtime: AppContext | undefined;
let alice: Timeline;
let bob: Timeline;
const apiBodies: string[] = [];
const cliOutputs: string[] = [];

/** The in-process runtime on the shared database, opened again if the CLI needed it closed. */
async function openRuntime() {
  if (runtime === undefined) {
    runtime = await createRuntime(loadConfig(env), { log: createLogger(() => {}) });
    await runtime.start();
  }
  const send = appClient(createApp(runtime));
  return { runtime, send, api: auditApi(send, TOKEN, apiBodies) };
}

/** The embedded database is single-process: stop the runtime before the CLI opens it. */
async function releaseForCli() {
  if (onPostgres) return;
  await runtime?.stop();
  runtime = undefined;
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

// As `npm run audit` runs it, but blind to a developer's `.env`: the test sets every variable.
const AUDIT = [process.execPath, "--no-env-file", "src/cli/audit.ts"];

async function cli(args: string[]): Promise<CliResult> {
  const result = await runCommand([...AUDIT, ...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      SECRET_KEY: env.SECRET_KEY,
      ...(env.DATABASE_URL ? { DATABASE_URL: env.DATABASE_URL } : {}),
      ...(env.DATA_DIR ? { DATA_DIR: env.DATA_DIR } : {}),
    },
  });
  cliOutputs.push(result.stdout, result.stderr);
  return result;
}

const ndjson = (stdout: string): AuditEvent[] =>
  stdout
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as AuditEvent);

/** RFC 4180: quoted cells with doubled quotes, commas and line breaks inside quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

interface Filter {
  name: string;
  query: string;
  args: string[];
}

let filters: Filter[];
/** The API's answer per filter, read while the runtime was up. */
const fromApi = new Map<string, AuditEvent[]>();

beforeAll(async () => {
  fake = await startFakeMailgun();
  env = {
    SECRET_KEY: testSecret(),
    AUDIT_TOKEN: TOKEN,
    ...mailgunEnv(fake),
    TRUST_PROXY: "true",
  };
  if (onPostgres) {
    testDb = await createTestDatabase();
    env.DATABASE_URL = testDb.url as string;
  } else {
    dir = scratchDir();
    env.DATA_DIR = dir.path;
  }
  const { runtime: rt, send, api } = await openRuntime();
  alice = await buildTimeline(send, fake, rt.db, ALICE, "cli-alice", "198.51.100");
  bob = await buildTimeline(send, fake, rt.db, BOB, "cli-bob", "203.0.113");
  await waitForAuditHorizon(rt.db);

  const from = alice.afterTrigger.toISOString();
  const to = alice.beforeSecondLogin.toISOString();
  const spaced = "  Audit.CLI.Alice@Example.COM ";
  filters = [
    { name: "email", query: `email=${q(ALICE)}`, args: ["--email", ALICE] },
    { name: "email, cased and spaced", query: `email=${q(spaced)}`, args: ["--email", spaced] },
    { name: "user id", query: `user_id=${alice.userId}`, args: ["--user-id", alice.userId] },
    {
      name: "two types",
      query: "type=PasswordResetRequested&type=UserLoggedIn",
      args: ["--type", "PasswordResetRequested", "--type", "UserLoggedIn"],
    },
    {
      name: "email and two types",
      query: `email=${q(BOB)}&type=PasswordResetCompleted&type=PasswordChanged`,
      args: ["--email", BOB, "--type", "PasswordResetCompleted", "--type", "PasswordChanged"],
    },
    {
      name: "user id, from and to",
      query: `user_id=${alice.userId}&from=${q(from)}&to=${q(to)}`,
      args: ["--user-id", alice.userId, "--from", from, "--to", to],
    },
    { name: "everything", query: "", args: [] },
  ];
  for (const filter of filters) fromApi.set(filter.name, await api.all(filter.query));
  await releaseForCli();
});

afterAll(async () => {
  await runtime?.stop();
  await fake?.stop();
  await testDb?.drop().catch(() => {});
  dir?.remove();
});

const apiEvents = (name: string): AuditEvent[] => {
  const events = fromApi.get(name);
  if (events === undefined) throw new Error(`no API answer for ${name}`);
  return events;
};

describe("the CLI prints what the API answers", () => {
  test("the API's answers are the history the filters ask for", () => {
    expect(apiEvents("email").map((e) => e.type)).toEqual(TIMELINE_TYPES);
    expect(apiEvents("email, cased and spaced")).toEqual(apiEvents("email"));
    expect(apiEvents("user id")).toEqual(apiEvents("email"));
    expect(apiEvents("two types")).toHaveLength(6);
    expect(apiEvents("email and two types").map((e) => e.type)).toEqual([
      "PasswordResetCompleted",
      "PasswordChanged",
    ]);
    expect(apiEvents("user id, from and to").map((e) => e.type)).toEqual([
      "PasswordResetCodeRejected",
      "PasswordResetCompleted",
      "PasswordChanged",
      "SessionEnded",
      "PasswordChangedNoticeSent",
    ]);
    expect(apiEvents("everything")).toHaveLength(2 * TIMELINE_TYPES.length);
    expect(apiEvents("email").find((e) => e.type === "UserRegistered")?.data.email).toBe(ALICE);
  });

  test("--json: one JSON event per line, deep equal to the API's, for every filter", async () => {
    for (const filter of filters) {
      const res = await cli(["--json", ...filter.args]);
      expect({ filter: filter.name, code: res.code, stderr: res.stderr }).toEqual({
        filter: filter.name,
        code: 0,
        stderr: "",
      });
      expect(res.stdout.endsWith("\n")).toBe(true);
      expect({ filter: filter.name, events: ndjson(res.stdout) }).toEqual({
        filter: filter.name,
        events: apiEvents(filter.name),
      });
    }
  });

  test("--csv: a header, then one record per event with the API's values", async () => {
    const expected = apiEvents("email");
    const res = await cli(["--csv", "--email", ALICE]);
    expect(res.code).toBe(0);
    const lines = res.stdout.split(/\r?\n/).filter((line) => line !== "");
    expect(lines).toHaveLength(expected.length + 1);

    const [header, ...records] = parseCsv(res.stdout);
    expect(header).toEqual(expect.arrayContaining(["position", "type", "recorded_at", "data"]));
    const column = (name: string) => (header ?? []).indexOf(name);
    expect(records).toHaveLength(expected.length);
    records.forEach((record, i) => {
      const event = expected[i] as AuditEvent;
      expect(record).toHaveLength(header?.length ?? -1);
      expect(Number(record[column("position")])).toBe(event.position);
      expect(record[column("type")]).toBe(event.type);
      expect(record[column("recorded_at")]).toBe(event.recorded_at);
      expect(JSON.parse(record[column("data")] ?? "null")).toEqual(event.data);
      if (column("metadata") !== -1) {
        expect(JSON.parse(record[column("metadata")] ?? "null")).toEqual(event.metadata);
      }
    });
  });

  test("the default table: a header and one row per event, in the API's order", async () => {
    for (const name of ["user id", "two types"]) {
      const filter = filters.find((f) => f.name === name) as Filter;
      const expected = apiEvents(name);
      const res = await cli(filter.args);
      expect(res.code).toBe(0);
      const lines = res.stdout.split("\n").filter((line) => line.trim() !== "");
      expect({ name, rows: lines.length }).toEqual({ name, rows: expected.length + 1 });
      const rows = lines.slice(1);
      rows.forEach((row, i) => {
        const event = expected[i] as AuditEvent;
        const cells = row.trim().split(/\s+/);
        expect(Number(cells[0])).toBe(event.position);
        expect(row).toContain(event.type);
        expect(row).toContain(event.recorded_at);
      });
      expect(res.stderr.trim()).toBe(`${expected.length} events`);
    }
  });

  test("after erasure the CLI shows the same [erased] history as the API", async () => {
    const { runtime: rt, api } = await openRuntime();
    const erased = await api.erase(alice.userId);
    expect(erased.status).toBe(204);
    await waitForAuditHorizon(rt.db);
    const afterErasure = await api.all(`user_id=${alice.userId}`);
    expect(afterErasure.map((e) => e.type)).toEqual([...TIMELINE_TYPES, "PersonalDataErased"]);
    expect(afterErasure.find((e) => e.type === "PasswordResetRequested")?.data).toEqual(
      expect.objectContaining({ email: "[erased]", ip: "[erased]", userAgent: "[erased]" }),
    );
    const bobAfter = await api.all(`email=${q(BOB)}`);
    await releaseForCli();

    const res = await cli(["--json", "--user-id", alice.userId]);
    expect(res.code).toBe(0);
    expect(ndjson(res.stdout)).toEqual(afterErasure);
    // Who erased: AUDIT_TOKEN's name, in the JSON and in the table.
    expect(afterErasure.at(-1)?.data).toEqual({ userId: alice.userId, erasedBy: "default" });
    const table = await cli(["--user-id", alice.userId, "--type", "PersonalDataErased"]);
    expect(table.stdout).toContain("erasedBy=default");
    const bobs = await cli(["--json", "--email", BOB]);
    expect(ndjson(bobs.stdout)).toEqual(bobAfter);
    expect(JSON.stringify(ndjson(res.stdout))).not.toContain(ALICE);
  });
});

describe("bad flags", () => {
  test("an unknown flag or a bad value: non-zero exit, nothing on stdout, one line naming it", async () => {
    const cases: [string[], RegExp][] = [
      [["--bogus"], /bogus/],
      [["--limit", "0"], /limit/],
      [["--user-id", "abc"], /user.id/],
      [["--from", "yesterday"], /from/],
      [["--type", "not a type"], /type/],
      [["--json", "--csv"], /json.*csv|csv.*json/],
      [["--email", "not-an-address"], /email/],
    ];
    for (const [args, names] of cases) {
      const res = await cli(args);
      const [first = "", ...rest] = res.stderr.trimEnd().split("\n");
      expect({ args, failed: res.code !== 0, stdout: res.stdout }).toEqual({
        args,
        failed: true,
        stdout: "",
      });
      expect({ args, first }).toEqual({ args, first: expect.stringMatching(names) });
      expect(res.stderr).not.toMatch(/\n\s+at /);
      // One line; an unknown flag may be followed by the usage text, nothing else.
      if (rest.length > 0)
        expect({ args, rest: rest[0] }).toEqual({ args, rest: expect.stringMatching(/^usage:/) });
    }
  });

  test("an --after that names no event: non-zero exit, one line naming it, no stack trace", async () => {
    // A position far past the end of the log: the API answers 400 for it. (Against f498a1e the
    // CLI let queryAuditEvents' HttpError escape with its stack; fixed in ac3a5ac.)
    for (const format of [["--json"], ["--csv"], []]) {
      const res = await cli([...format, "--after", "999999"]);
      expect({ format, failed: res.code !== 0, stdout: res.stdout }).toEqual({
        format,
        failed: true,
        stdout: "",
      });
      expect(res.stderr).not.toMatch(/\n\s+at |HttpError/);
      expect(res.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(res.stderr).toMatch(/after/);
    }
  });
});

describe("secrets", () => {
  test("no CLI output and no API answer holds a code, a hash, a seal, a password or the token", () => {
    expect(cliOutputs.length).toBeGreaterThan(10);
    const needles = [...secretsOf(alice, TOKEN), ...secretsOf(bob, TOKEN)];
    expect(leaks(cliOutputs, needles)).toEqual([]);
    expect(leaks(apiBodies, needles)).toEqual([]);
  });
});
