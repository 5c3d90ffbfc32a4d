import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

const SEALED_PREFIX = "sealed:v1:";

/** Separate keys for separate jobs, all derived from SECRET_KEY. */
export interface Keyring {
  /** Keys lookup hashes (emails, IPs, reset codes). */
  readonly hmacKey: Buffer;
  /** Wraps the per-user data keys. */
  readonly wrapKey: Buffer;
}

export function deriveKeyring(secret: Uint8Array): Keyring {
  const derive = (info: string) =>
    Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), info, 32));
  return { hmacKey: derive("reset-ledger/hmac/v1"), wrapKey: derive("reset-ledger/wrap/v1") };
}

/** A keyed hash, namespaced by purpose so one value's hash never matches another kind's. */
export function keyedHash(keyring: Keyring, purpose: string, value: string): string {
  return createHmac("sha256", keyring.hmacKey).update(`${purpose}\0${value}`).digest("hex");
}

/** How the read models find an email without holding it (`users`, `reset_streams`). */
export const emailLookup = (keyring: Keyring, email: string) => keyedHash(keyring, "email", email);

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
  return encrypt(keyring.wrapKey, dataKey, `data-key:${subjectId}`);
}

export function unwrapDataKey(keyring: Keyring, subjectId: string, wrapped: Uint8Array): Buffer {
  return decrypt(keyring.wrapKey, Buffer.from(wrapped), `data-key:${subjectId}`);
}

/** Wraps a key of another kind (`purpose`), bound to the id it belongs to. */
export function wrapKey(keyring: Keyring, purpose: string, id: string, key: Uint8Array): Buffer {
  return encrypt(keyring.wrapKey, key, `${purpose}:${id}`);
}

export function unwrapKey(
  keyring: Keyring,
  purpose: string,
  id: string,
  wrapped: Uint8Array,
): Buffer {
  return decrypt(keyring.wrapKey, Buffer.from(wrapped), `${purpose}:${id}`);
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
