/**
 * Test runs leave nothing in the temp folder (README: Two commands): each test process writes
 * its temp files into a folder of its own that is removed when its tests are done, so even what
 * a test forgot to remove is gone.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../support/command";

const root = join(import.meta.dir, "..", "..");

test("a test file's forgotten scratch folder and files are gone when it ends", async () => {
  const temp = mkdtempSync(join(tmpdir(), "temp-dir-check-"));
  try {
    const { code, stdout, stderr } = await runCommand(
      [process.execPath, "test", "--timeout", "60000", "./test/support/leaves-temp-files.ts"],
      { cwd: root, env: { ...process.env, TMPDIR: temp } },
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.stringContaining("1 pass") });
    const left = /left behind: (\S+)/.exec(stdout)?.[1] ?? "";
    expect(left).toStartWith(`${temp}/`);
    expect(existsSync(left)).toBe(false);
    expect(readdirSync(temp)).toEqual([]);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}, 60_000);
