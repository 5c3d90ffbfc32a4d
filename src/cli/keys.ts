import { MissingKeyError } from "../privacy";
import { attributedKeyUses, EXPIRING_KINDS, type KeyKind } from "../privacy/key-status";
import { rewrap } from "../privacy/rewrap";
import { fail, openLog, parseOptions } from "./common";

const usage = `usage: npm run keys -- status [--json]
       npm run keys -- rewrap [--batch N]
status: per key id of SECRET_KEY (and any key the database still needs), the rows it protects.
rewrap: moves every row that can be moved under the first key of SECRET_KEY, in batches, while
        servers run; run it again to resume. Sessions and device tokens move when next presented;
        live codes expire.
Reads DATABASE_URL, or the embedded database under DATA_DIR (stop the server first).`;

// The command comes first; the options after it are parsed as every command's are.
const command = process.argv[2]?.startsWith("-") ? undefined : process.argv.splice(2, 1)[0];
const values = parseOptions(
  { json: { type: "boolean" }, batch: { type: "string" }, help: { type: "boolean", short: "h" } },
  usage,
);
if (command !== "status" && command !== "rewrap") fail(`expected status or rewrap\n${usage}`);
const batchSize = values.batch === undefined ? 500 : Number(values.batch);
if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
  fail("--batch: expected a whole number from 1 to 100000");
}

interface KeyRow {
  keyId: string;
  listed: boolean;
  first: boolean;
  rows: Partial<Record<KeyKind, number>>;
  /** Rows that must move before the key leaves the list (all but the expiring kinds). */
  toMove: number;
}

const core = await openLog();
try {
  if (command === "rewrap") {
    const moved = await rewrap(core.db, core.keyring, {
      batchSize,
      onBatch: (kind, n) => process.stderr.write(`${kind}: ${n} moved\n`),
    }).catch((error: unknown) => {
      // What moved so far stays moved; listing the missing key and running again resumes.
      if (error instanceof MissingKeyError) fail(`${error.message}: list it after the new key`);
      throw error;
    });
    process.stdout.write(
      `moved under ${core.keyring.primary.id}: ${Object.entries(moved)
        .map(([kind, n]) => `${n} ${kind}`)
        .join(", ")}\n`,
    );
  }
  const { uses } = await attributedKeyUses(core.db, core.keyring);
  const keys = new Map<string, KeyRow>();
  const row = (keyId: string): KeyRow => {
    const found = keys.get(keyId);
    if (found) return found;
    const listed = core.keyring.keys.some((k) => k.id === keyId);
    const fresh = { keyId, listed, first: keyId === core.keyring.primary.id, rows: {}, toMove: 0 };
    keys.set(keyId, fresh);
    return fresh;
  };
  for (const key of core.keyring.keys) row(key.id);
  for (const use of uses) {
    const entry = row(use.keyId ?? "before-ids");
    entry.rows[use.kind] = (entry.rows[use.kind] ?? 0) + use.rows;
    if (!EXPIRING_KINDS.has(use.kind)) entry.toMove += use.rows;
  }
  const list = [...keys.values()];
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ keys: list })}\n`);
  } else {
    for (const key of list) {
      const role = key.first ? "first" : key.listed ? "listed" : "NOT LISTED";
      const kinds = Object.entries(key.rows).map(([kind, n]) => `${n} ${kind}`);
      process.stdout.write(
        `${key.keyId}  ${role.padEnd(10)}  ${kinds.length === 0 ? "no rows" : kinds.join(", ")}\n`,
      );
    }
  }
} finally {
  await core.database.close();
}
