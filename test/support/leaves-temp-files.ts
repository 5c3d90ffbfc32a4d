/**
 * A test file that forgets to clean up, run only by test/unit/temp-dir.test.ts (its name is not
 * a test file's, so `bun test` never collects it): a scratch DATA_DIR and a screenshot-like file
 * left in the temp folder.
 */
import { test } from "bun:test";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { scratchDir } from "./server";

test("leaves a scratch folder and a file in the temp folder", () => {
  const dir = scratchDir();
  writeFileSync(join(tmpdir(), "left-behind.png"), "");
  console.log(`left behind: ${dir.path}`);
});
