import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSecretKey } from "../config";

/** The development secret: generated once into DATA_DIR so restarts can read old seals. */
export function loadOrCreateDevSecret(dataDir: string): Uint8Array {
  const path = join(dataDir, "secret.key");
  if (existsSync(path)) return parseSecretKey(readFileSync(path, "utf8").trim(), path);
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32);
  writeFileSync(path, `${secret.toString("hex")}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return secret;
}
