import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

const SEALED_PREFIX = "sealed:v1:";

/** The keys one SECRET_KEY entry yields, each for its own job. */
export interface KeyEntry {
  /** A fingerprint naming the key in what it protects; never the key. */
  readonly id: string;
  /** Keys lookup hashes (emails, IPs, reset codes). */
  readonly hmacKey: Buffer;
  /** Wraps the per-user data keys. */
  readonly wrapKey: Buffer;
}

/** Every SECRET_KEY listed, newest first: the first protects new data, all open what they made. */
export interface Keyring {
  readonly keys: readonly KeyEntry[];
  readonly primary: KeyEntry;
  /**
   * Whether the database may hold values written before they carried a key id: lookups then try
   * those forms too. The start-up key check clears it when the database holds none.
   */
  legacy: boolean;
}

const KEY_ID_LENGTH = 8;
const WRAP_MAGIC = Buffer.from("rlk1");
/** The magic, then the key id's four bytes, then the sealed key. */
const WRAP_HEADER = WRAP_MAGIC.length + KEY_ID_LENGTH / 2;

export function keyId(secret: Uint8Array): string {
  return createHmac("sha256", secret).update("key-id").digest("hex").slice(0, KEY_ID_LENGTH);
}

function deriveEntry(secret: Uint8Array): KeyEntry {
  const derive = (info: string) =>
    Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), info, 32));
  return {
    id: keyId(secret),
    hmacKey: derive("reset-ledger/hmac/v1"),
    wrapKey: derive("reset-ledger/wrap/v1"),
  };
}

export function deriveKeyring(secrets: Uint8Array | readonly Uint8Array[]): Keyring {
  const list = secrets instanceof Uint8Array ? [secrets] : secrets;
  const keys = list.map(deriveEntry);
  const primary = keys[0];
  if (primary === undefined) throw new Error("a keyring needs at least one key");
  return { keys, primary, legacy: true };
}

/** How a key wraps from now on: its header, which rewrap looks for. */
export const wrappedPrefix = (keyId: string) =>
  Buffer.concat([WRAP_MAGIC, Buffer.from(keyId, "hex")]);

/** The key id a wrapped key carries; undefined for one written before ids. */
function keyIdOf(wrapped: Buffer): string | undefined {
  if (wrapped.length <= WRAP_HEADER || !wrapped.subarray(0, WRAP_MAGIC.length).equals(WRAP_MAGIC)) {
    return undefined;
  }
  return wrapped.subarray(WRAP_MAGIC.length, WRAP_HEADER).toString("hex");
}

/** A keyed hash under one key without its id: for values derived from it, never stored as a hash. */
export const bareKeyedHash = (key: KeyEntry, purpose: string, value: string) =>
  createHmac("sha256", key.hmacKey).update(`${purpose}\0${value}`).digest("hex");

/**
 * A keyed hash under the first key, prefixed with its id; namespaced by purpose so one value's
 * hash never matches another kind's.
 */
export function keyedHash(keyring: Keyring, purpose: string, value: string): string {
  return `${keyring.primary.id}.${bareKeyedHash(keyring.primary, purpose, value)}`;
}

/** The hash a value has under one key, as that key writes it. */
export function keyedHashUnder(key: KeyEntry, purpose: string, value: string): string {
  return `${key.id}.${bareKeyedHash(key, purpose, value)}`;
}

/**
 * Every form a stored hash of the value can have under the listed keys, the first key's first:
 * what a lookup matches with `= any(...)`. One key and no old-form data: just keyedHash.
 */
export function keyedHashes(keyring: Keyring, purpose: string, value: string): string[] {
  if (keyring.keys.length === 1 && !keyring.legacy) return [keyedHash(keyring, purpose, value)];
  const hashes = keyring.keys.map((key) => keyedHashUnder(key, purpose, value));
  if (keyring.legacy)
    for (const key of keyring.keys) hashes.push(bareKeyedHash(key, purpose, value));
  return hashes;
}

/** How the read models find an email without holding it (`users`, `reset_streams`). */
export const emailLookup = (keyring: Keyring, email: string) => keyedHash(keyring, "email", email);

/** Every stored form of an email's lookup under the listed keys. */
export const emailLookups = (keyring: Keyring, email: string) =>
  keyedHashes(keyring, "email", email);

/** A value that no key of the list opens (written under a key that is not listed). */
export class MissingKeyError extends Error {
  constructor(readonly keyId: string | undefined) {
    super(
      keyId === undefined
        ? "SECRET_KEY: no listed key opens a value written before key ids"
        : `SECRET_KEY: key ${keyId} is not listed`,
    );
  }
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Compare against itself on a length mismatch so the time does not reveal the length.
  return (
    timingSafeEqual(left, left.length === right.length ? right : left) &&
    left.length === right.length
  );
}

function encrypt(key: Uint8Array, plaintext: Uint8Array, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(key: Uint8Array, sealed: Buffer, aad: string): Buffer {
  const iv = sealed.subarray(0, 12);
  const tag = sealed.subarray(sealed.length - 16);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([
    decipher.update(sealed.subarray(12, sealed.length - 16)),
    decipher.final(),
  ]);
}

export function newDataKey(): Buffer {
  return randomBytes(32);
}

export function wrapDataKey(keyring: Keyring, subjectId: string, dataKey: Uint8Array): Buffer {
  return wrapKey(keyring, "data-key", subjectId, dataKey);
}

export function unwrapDataKey(keyring: Keyring, subjectId: string, wrapped: Uint8Array): Buffer {
  return unwrapKey(keyring, "data-key", subjectId, wrapped);
}

/** Wraps a key of another kind (`purpose`) under the first key, bound to the id it belongs to. */
export function wrapKey(keyring: Keyring, purpose: string, id: string, key: Uint8Array): Buffer {
  const { primary } = keyring;
  return Buffer.concat([
    WRAP_MAGIC,
    Buffer.from(primary.id, "hex"),
    encrypt(primary.wrapKey, key, `${purpose}:${id}`),
  ]);
}

/** Opens a wrapped key with the key its id names; one written before ids, with each key. */
export function unwrapKey(
  keyring: Keyring,
  purpose: string,
  id: string,
  wrapped: Uint8Array,
): Buffer {
  const bytes = Buffer.from(wrapped);
  const aad = `${purpose}:${id}`;
  const named = keyIdOf(bytes);
  if (named !== undefined) {
    const key = keyring.keys.find((k) => k.id === named);
    if (key !== undefined) return decrypt(key.wrapKey, bytes.subarray(WRAP_HEADER), aad);
  }
  // Written before ids (or, once in 2^32, an old value that happens to start like a new one).
  for (const key of keyring.keys) {
    try {
      return decrypt(key.wrapKey, bytes, aad);
    } catch {}
  }
  throw new MissingKeyError(named);
}

/** Seals a value under a data key; the subject id is bound in, so a seal cannot be moved. */
export function seal(dataKey: Uint8Array, subjectId: string, plaintext: string): string {
  return (
    SEALED_PREFIX +
    encrypt(dataKey, Buffer.from(plaintext, "utf8"), subjectId).toString("base64url")
  );
}

/** How long seal() makes a value, for a stand-in of the same size that seals nothing. */
export function sealedLength(plaintext: string): number {
  const sealedBytes = 12 + Buffer.byteLength(plaintext, "utf8") + 16;
  return SEALED_PREFIX.length + Math.ceil((sealedBytes * 4) / 3);
}

export function unseal(dataKey: Uint8Array, subjectId: string, sealed: string): string {
  if (!isSealed(sealed)) throw new Error("not a sealed value");
  const body = Buffer.from(sealed.slice(SEALED_PREFIX.length), "base64url");
  return decrypt(dataKey, body, subjectId).toString("utf8");
}

export function isSealed(value: unknown): value is string {
  return typeof value === "string" && value.startsWith(SEALED_PREFIX);
}
