/**
 * SECRET_KEY as a list (README: Rotating keys): values written before keys had ids keep
 * working, the start-up check finds which key they need, and rewrap moves them under the first
 * key in the form that names it.
 */
import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { ConfigError, loadConfig } from "../../src/config";
import { createLogger } from "../../src/log";
import { verifySecretKeys } from "../../src/operations/startup";
import { deriveKeyring, keyedHashes } from "../../src/privacy";
import { keyId } from "../../src/privacy/crypto";
import { attributedKeyUses, keyUses } from "../../src/privacy/key-status";
import { rewrap } from "../../src/privacy/rewrap";
import { testSecret, useRuntime } from "../support/runtime";

const A = testSecret();
const PASSWORD = "Key-Ring-Passw0rd!";
const email = "key.ring.legacy@example.com";
const log = createLogger(() => {});
const t = useRuntime({ SECRET_KEY: A });

const login = () => t.request("POST", "/v1/auth/login", { email, password: PASSWORD });

/** Rewrites the rows as the service wrote them before key ids: no header, no `id.` prefix. */
async function writtenBeforeKeyIds(): Promise<void> {
  await sql`update data_keys set wrapped_key = substring(wrapped_key from 9)`.execute(t.runtime.db);
  await sql`update ip_hash_keys set wrapped_key = substring(wrapped_key from 9)`.execute(
    t.runtime.db,
  );
  for (const table of ["users", "reset_streams"]) {
    await sql`update ${sql.table(table)} set email_lookup = substring(email_lookup from 10)`.execute(
      t.runtime.db,
    );
  }
  await sql`update sessions set token_hash = substring(token_hash from 10)`.execute(t.runtime.db);
  t.runtime.dataKeys.forgetAll();
}

describe("SECRET_KEY as a list", () => {
  test("a list is parsed newest first; an empty or repeated entry is refused", () => {
    const B = testSecret();
    expect(loadConfig({ SECRET_KEY: `${B}, ${A}` }).secretKey?.map((k) => keyId(k))).toEqual([
      keyId(Buffer.from(B, "hex")),
      keyId(Buffer.from(A, "hex")),
    ]);
    expect(() => loadConfig({ SECRET_KEY: `${B},` })).toThrow(ConfigError);
    expect(() => loadConfig({ SECRET_KEY: `${A},${A}` })).toThrow("lists one key twice");
  });

  test("one key and nothing of the old form: a lookup computes one hash", () => {
    const keyring = deriveKeyring([Buffer.from(A, "hex")]);
    keyring.legacy = false;
    expect(keyedHashes(keyring, "email", email)).toHaveLength(1);
    expect(keyedHashes(keyring, "email", email)[0]).toStartWith(`${keyring.primary.id}.`);
  });

  test("values from before key ids still open, and rewrap gives them the first key's id", async () => {
    const registered = await t.request("POST", "/v1/auth/register", { email, password: PASSWORD });
    expect(registered.status).toBe(201);
    expect((await login()).status).toBe(200);
    await writtenBeforeKeyIds();
    await verifySecretKeys(t.runtime, log);
    expect(t.runtime.keyring.legacy).toBe(true);
    const attributed = await attributedKeyUses(t.runtime.db, t.runtime.keyring);
    expect(attributed.legacy).toBe(t.runtime.keyring.primary.id);

    // Logging in finds the account by its old-form lookup and opens its old-form data key.
    expect((await login()).status).toBe(200);

    // A key that did not write them cannot open them: start-up refuses in one line.
    const other = { db: t.runtime.db, keyring: deriveKeyring([Buffer.from(testSecret(), "hex")]) };
    const refusal = await verifySecretKeys(other, log).catch((error: Error) => error);
    expect(refusal).toBeInstanceOf(ConfigError);
    expect(String((refusal as Error).message)).toStartWith("SECRET_KEY: ");
    expect(String((refusal as Error).message)).toContain("before key ids");

    const moved = await rewrap(t.runtime.db, t.runtime.keyring, { batchSize: 1 });
    expect(moved["data keys"]).toBeGreaterThanOrEqual(1);
    expect(moved["email lookups"]).toBe(1);
    const left = (await keyUses(t.runtime.db)).filter(
      (u) => u.keyId === undefined && u.kind !== "sessions",
    );
    expect(left).toEqual([]);
    t.runtime.dataKeys.forgetAll();
    expect((await login()).status).toBe(200);
    // Run again: nothing left to move.
    expect(Object.values(await rewrap(t.runtime.db, t.runtime.keyring))).toEqual([0, 0, 0, 0]);
  });
});
