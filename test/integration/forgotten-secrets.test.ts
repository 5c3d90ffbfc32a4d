/**
 * Codes are forgotten once delivered, and IP hashes once their key rotates (README: Auditing).
 * "Every key the service holds" is tried for real: SECRET_KEY and the keys derived
 * from it, every data key, every request's code key and every IP-hash key in the database.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { sql } from "kysely";
import { normaliseResetCode } from "../../src/password-reset/code";
import { codeHash } from "../../src/password-reset/service";
import { IP_HASH_EPOCH_MS, IpHashes, keyedHash, unseal } from "../../src/privacy";
import { unwrapDataKey, unwrapKey } from "../../src/privacy/crypto";
import { attemptsTo, codeOf, messagesTo } from "../support/e2e";
import { runtimeWithFakeMailgun } from "../support/runtime";
import { waitFor } from "../support/wait";

const password = "Forg0tten-Codes!";

const { t, fake } = runtimeWithFakeMailgun({ TRUST_PROXY: "true" });
beforeEach(async () => {
  await fake.setMode("ok");
});

async function register(email: string): Promise<string> {
  const res = await t.request("POST", "/v1/auth/register", { email, password });
  expect(res.status).toBe(201);
  return (res.json as { user: { id: string } }).user.id;
}

const trigger = (email: string, ip = "192.0.2.10") =>
  t.request("POST", "/v1/auth/password-reset/trigger", { email }, { "x-forwarded-for": ip });

/** Every key material the service holds, at rest or derivable from SECRET_KEY. */
async function everyKey(): Promise<{ name: string; key: Uint8Array }[]> {
  const { keyring, config, db } = t.runtime;
  const keys = [
    { name: "hmacKey", key: keyring.primary.hmacKey as Uint8Array },
    { name: "wrapKey", key: keyring.primary.wrapKey },
  ];
  for (const key of config.secretKey ?? []) keys.push({ name: "SECRET_KEY", key });
  for (const row of await db.selectFrom("data_keys").selectAll().execute()) {
    keys.push({
      name: `data key ${row.subject_id}`,
      key: unwrapDataKey(keyring, row.subject_id, row.wrapped_key),
    });
  }
  for (const row of await db.selectFrom("reset_code_keys").selectAll().execute()) {
    keys.push({
      name: `code key ${row.request_id}`,
      key: unwrapKey(keyring, "reset-code-key", row.request_id, row.wrapped_key),
    });
  }
  for (const row of await db.selectFrom("ip_hash_keys").selectAll().execute()) {
    keys.push({
      name: `ip key ${row.epoch}`,
      key: unwrapKey(keyring, "ip-hash-key", String(row.epoch), row.wrapped_key),
    });
  }
  return keys;
}

/** The plaintexts any held key opens the seal to, trying every subject it could be bound to. */
async function openWithEveryKey(sealed: string, subjects: string[]): Promise<string[]> {
  const opened: string[] = [];
  for (const { key } of await everyKey()) {
    if (key.length !== 32) continue;
    for (const subject of subjects) {
      try {
        opened.push(unseal(key, subject, sealed));
      } catch {
        // Not this key: the seal's tag does not verify.
      }
    }
  }
  return opened;
}

async function requestOf(userId: string) {
  const { rows } = await sql<{ data: { requestId: string; sealedCode: string; codeHash: string } }>`
    select data from events where type = 'PasswordResetRequested' and data->>'userId' = ${userId}
    order by global_position desc limit 1`.execute(t.runtime.db);
  return rows[0]?.data;
}

describe("codes are forgotten once the email's outcome is recorded", () => {
  test("while the send is in flight the code key opens the seal; after PasswordResetEmailSent nothing does", async () => {
    const email = "forgotten.sent@example.com";
    const userId = await register(email);
    // The provider holds the message for a while: the outcome cannot be recorded before it answers.
    await fake.setMode({ delayMs: 3_000 });
    const answer = trigger(email);
    await waitFor(() => attemptsTo(fake, email).some((a) => a.outcome === "pending"), {
      what: "the send in flight",
    });
    const request = await waitFor(() => requestOf(userId), { what: "the request event" });
    const subjects = [request.requestId, userId];

    // Control: with the request's key still stored, the stored material recovers the code.
    const before = await openWithEveryKey(request.sealedCode, subjects);
    expect(before).toHaveLength(1);
    expect(codeHash(t.runtime, before[0] as string)).toBe(request.codeHash);

    expect((await answer).status).toBe(200);
    const [message] = messagesTo(fake, email);
    if (!message) throw new Error("no reset email");
    const code = codeOf(message);
    expect(normaliseResetCode(code)).toBe(before[0] as string);

    // The outcome's transaction deleted the request's key: no key opens the seal any more.
    const keys = await t.runtime.db
      .selectFrom("reset_code_keys")
      .select("request_id")
      .where("request_id", "=", request.requestId)
      .execute();
    expect(keys).toEqual([]);
    expect((await everyKey()).length).toBeGreaterThan(3);
    expect(await openWithEveryKey(request.sealedCode, subjects)).toEqual([]);

    // Forgetting the plaintext does not break the code: it is checked by its keyed hash.
    const reset = await t.request("POST", "/v1/auth/password-reset/reset", {
      code,
      new_password: "Brand-N3w-Passw0rd!",
      email,
    });
    expect(reset.status).toBe(200);
  });

  test("after PasswordResetEmailFailed the code is forgotten as well", async () => {
    const email = "forgotten.failed@example.com";
    const userId = await register(email);
    await fake.setMode({ status: 401 });
    expect((await trigger(email, "192.0.2.11")).status).toBe(500);
    const request = await waitFor(() => requestOf(userId), { what: "the request event" });
    await waitFor(
      async () => {
        const { rows } = await sql<{ n: number }>`
          select count(*)::int as n from events
          where type = 'PasswordResetEmailFailed' and data->>'requestId' = ${request.requestId}`.execute(
          t.runtime.db,
        );
        return (rows[0]?.n ?? 0) > 0;
      },
      { what: "the failure outcome" },
    );
    expect(await openWithEveryKey(request.sealedCode, [request.requestId, userId])).toEqual([]);
  });
});

describe("ipHash is keyed by a rotating key", () => {
  const ip = "198.51.100.77";
  const hmacOf = (key: Uint8Array) => createHmac("sha256", key).update(`ip\0${ip}`).digest("hex");

  test("the recorded ipHash is not an HMAC under a key derived from SECRET_KEY", async () => {
    expect((await trigger("nobody.forgotten@example.com", ip)).status).toBe(404);
    const { rows } = await sql<{ ip_hash: string }>`
      select data->>'ipHash' as ip_hash from events
      where type = 'PasswordResetRejected' order by global_position desc limit 1`.execute(
      t.runtime.db,
    );
    const recorded = rows[0]?.ip_hash;
    expect(recorded).toBe(await t.runtime.ipHashes.of(ip));
    expect(recorded).not.toBe(keyedHash(t.runtime.keyring, "ip", ip));
    // Today's key reproduces it (limits and correlation work within the day).
    const matching = (await everyKey()).filter(({ key }) => hmacOf(key) === recorded);
    expect(matching.map((k) => k.name)).toEqual([expect.stringMatching(/^ip key /)]);
  });

  test("once the next epoch's key exists the previous one is destroyed and no held key reproduces the hash", async () => {
    let now = Date.now();
    const hashes = new IpHashes(t.runtime.db, t.runtime.keyring, () => now);
    const today = await hashes.of(ip);
    expect(await hashes.of(ip)).toBe(today);
    expect((await everyKey()).some(({ key }) => hmacOf(key) === today)).toBe(true);

    now += IP_HASH_EPOCH_MS;
    const tomorrow = await hashes.of(ip);
    expect(tomorrow).not.toBe(today);
    const { rows } = await sql<{ epoch: number }>`select epoch from ip_hash_keys`.execute(
      t.runtime.db,
    );
    expect(rows.map((r) => r.epoch)).toEqual([Math.floor(now / IP_HASH_EPOCH_MS)]);
    expect((await everyKey()).filter(({ key }) => hmacOf(key) === today)).toEqual([]);
  });
});
