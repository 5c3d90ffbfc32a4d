/**
 * A migrated embedded database to start test databases from. Creating a PGlite cluster
 * (initdb) costs seconds of CPU; loading a dump of one costs a fraction. The dump is built once
 * per migration set and PGlite version and kept in node_modules/.cache (gone with a fresh
 * install, never in the temp folder), shared by every test file and every run until a migration
 * changes.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely } from "kysely";
import { migrate, type Schema } from "../../src/db";
import { PGliteDialect } from "../../src/db/pglite-dialect";

const root = join(import.meta.dir, "..", "..");

function templateKey(): string {
  const hash = createHash("sha256");
  hash.update(
    JSON.parse(readFileSync(join(root, "node_modules/@electric-sql/pglite/package.json"), "utf8"))
      .version,
  );
  const migrations = join(root, "src/db/migrations");
  for (const name of readdirSync(migrations).sort()) {
    hash.update(name);
    hash.update(readFileSync(join(migrations, name)));
  }
  return hash.digest("hex").slice(0, 16);
}

const key = templateKey();
const cacheDir = join(root, "node_modules", ".cache", "reset-ledger");
const tarPath = join(cacheDir, `pglite-${key}.tar`);
const dirPath = join(cacheDir, `pglite-${key}`);

async function build(): Promise<void> {
  const pglite = new PGlite();
  const db = new Kysely<Schema>({ dialect: new PGliteDialect(pglite) });
  try {
    await migrate(db);
    const dump = await pglite.dumpDataDir("none");
    // Written aside and renamed: parallel test files never read half a dump.
    const partial = `${tarPath}.${process.pid}.${Date.now()}`;
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(partial, new Uint8Array(await dump.arrayBuffer()));
    renameSync(partial, tarPath);
  } finally {
    await db.destroy();
  }
}

let ready: Promise<void> | undefined;

/** Builds the dump (and its unpacked data directory) unless a previous run left them. */
export function pgliteTemplate(): Promise<void> {
  ready ??= (async () => {
    if (!existsSync(tarPath)) await build();
    if (!existsSync(dirPath)) {
      const partial = `${dirPath}.${process.pid}.${Date.now()}`;
      mkdirSync(partial, { recursive: true });
      const tar = Bun.spawnSync(["tar", "-xf", tarPath, "-C", partial]);
      if (tar.exitCode !== 0) throw new Error(`unpacking ${tarPath}: ${tar.stderr.toString()}`);
      try {
        renameSync(partial, dirPath);
      } catch {
        rmSync(partial, { recursive: true, force: true });
      }
    }
  })();
  return ready;
}

/** The migrated dump, to load into a new in-memory PGlite. */
export async function templateDump(): Promise<Blob> {
  await pgliteTemplate();
  return new Blob([readFileSync(tarPath)]);
}

/** The unpacked data directory, once pgliteTemplate() has run (undefined before). */
export function templateDataDir(): string | undefined {
  return existsSync(dirPath) ? dirPath : undefined;
}
