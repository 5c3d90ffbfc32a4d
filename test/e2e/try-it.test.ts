/**
 * The README's "Try it" walkthrough, run as written: its lines are read from README.md and each
 * is run by `bash -c` against `npm start` (embedded database, generated secret, console mailer),
 * exactly as a newcomer pastes them. The one change is the port: `localhost:3000` becomes the
 * server's free port. A line `NAME=…` sets NAME for the lines after it, as in one terminal.
 * Each line's answer is checked; the whole walk runs twice, as the README says it may.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../support/command";
import { SENT_BODY, SHOWN_CODE } from "../support/e2e";
import { pgliteTemplate } from "../support/pglite-template";
import { type ServerProcess, scratchDir, startServer } from "../support/server";

const root = join(import.meta.dir, "..", "..");
const README_BASE = "localhost:3000";
const EMAIL = "ada@example.com";

/** The shell lines of the README's "Try it" section: comments dropped, continuations joined. */
function walkthroughLines(readme: string): string[] {
  const section = /^## Try it\n([\s\S]*?)^## /m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README has no "## Try it" section');
  const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? "");
  return blocks
    .join("")
    .replace(/\\\n/g, "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  vars: Record<string, string>;
}

interface Step {
  /** What the line must be: the README and this test describe the same walk. */
  line: RegExp;
  check(ran: Ran, pass: number): void;
}

const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

const STEPS: Step[] = [
  {
    line: /\/v1\/auth\/register /,
    check: ({ stdout }, pass) =>
      pass === 1
        ? expect(json(stdout)).toMatchObject({ user: { email: EMAIL } })
        : expect(json(stdout)).toEqual({ error: "email already registered" }),
  },
  {
    line: /\/v1\/auth\/password-reset\/trigger /,
    check: ({ stdout }) => expect(json(stdout)).toEqual(SENT_BODY),
  },
  {
    line: /^CODE=.*\/dev\/mail\/messages/,
    check: ({ stdout, vars }) => {
      expect(vars.CODE ?? "").toMatch(SHOWN_CODE);
      expect(stdout).toBe(`${vars.CODE}\n`);
      // The code is the one the server emailed last (its stdout shows each email's text).
      const printed = server.output().match(/^[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}$/gm) ?? [];
      expect(printed.at(-1)).toBe(vars.CODE as string);
    },
  },
  {
    line: /\/v1\/auth\/password-reset\/reset .*\$CODE/,
    check: ({ stdout }) =>
      expect(json(stdout)).toEqual({ message: "password reset successfully", email: EMAIL }),
  },
  {
    line: /^TOKEN=.*\/v1\/auth\/login /,
    check: ({ stdout, vars }) => {
      expect(stdout).toBe("");
      expect(vars.TOKEN ?? "").toMatch(/^[A-Za-z0-9_-]{32,}$/);
    },
  },
  {
    line: /\/v1\/auth\/me .*\$TOKEN/,
    check: ({ stdout }) => expect(json(stdout)).toMatchObject({ user: { email: EMAIL } }),
  },
  {
    line: /-X POST .*\/v1\/auth\/logout .*\$TOKEN/,
    check: ({ stdout }) => expect(stdout).toBe("204\n"),
  },
  {
    line: /\/v1\/auth\/me .*\$TOKEN/,
    check: ({ stdout }) => expect(json(stdout)).toEqual({ error: "unauthorized" }),
  },
];

let server: ServerProcess;
let dataDir: ReturnType<typeof scratchDir>;
let stateDir: string;

beforeAll(async () => {
  await pgliteTemplate();
  dataDir = scratchDir();
  stateDir = mkdtempSync(join(tmpdir(), "try-it-"));
  // As `npm start` runs on a fresh clone: nothing set but where the data goes and a free port.
  server = await startServer({ DATA_DIR: dataDir.path }, { command: ["npm", "start"] });
});

afterAll(async () => {
  await server?.stop();
  dataDir?.remove();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** Runs one README line in its own `bash -c`, with the variables earlier lines set. */
async function run(line: string, vars: Record<string, string>): Promise<Ran> {
  const command = line.replaceAll(README_BASE, `localhost:${new URL(server.url).port}`);
  const assigned = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(command)?.[1];
  const state = join(stateDir, "assigned");
  // A line that sets a variable hands its value on, as the terminal would keep it.
  const script = assigned
    ? `${command}\nstatus=$?\nprintf '%s' "$${assigned}" > "$1"\nexit $status`
    : command;
  const { code, stdout, stderr } = await runCommand(["bash", "-c", script, "try-it", state], {
    cwd: stateDir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...vars },
  });
  const next = assigned ? { ...vars, [assigned]: readFileSync(state, "utf8") } : vars;
  return { code, stdout, stderr, vars: next };
}

describe('README "Try it"', () => {
  test("the lines are the walk: register, trigger, code, reset, login, me, logout, me", () => {
    const lines = walkthroughLines(readFileSync(join(root, "README.md"), "utf8"));
    expect(lines).toHaveLength(STEPS.length);
    for (const [i, line] of lines.entries()) {
      expect({ step: i + 1, line }).toEqual({
        step: i + 1,
        line: expect.stringMatching(STEPS[i]?.line as RegExp),
      });
      expect(line).toContain(README_BASE);
    }
  });

  test("every line works as written against npm start, twice over", async () => {
    const lines = walkthroughLines(readFileSync(join(root, "README.md"), "utf8"));
    for (const pass of [1, 2]) {
      let vars: Record<string, string> = {};
      for (const [i, line] of lines.entries()) {
        const ran = await run(line, vars);
        expect({ pass, line, code: ran.code, stderr: ran.stderr }).toEqual({
          pass,
          line,
          code: 0,
          stderr: "",
        });
        STEPS[i]?.check(ran, pass);
        vars = ran.vars;
      }
    }
  });
});
