/**
 * Preloaded for every test file (bunfig.toml): the temp folder (TMPDIR) of the test process is
 * a folder of its own, removed once its tests are done, so that nothing a test or a tool it runs
 * writes there outlives the run, even when a test fails before its own clean-up.
 */
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runDir = mkdtempSync(join(tmpdir(), "reset-ledger-test-"));
process.env.TMPDIR = runDir;

afterAll(() => rmSync(runDir, { recursive: true, force: true }));
