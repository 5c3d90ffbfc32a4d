import { sql } from "kysely";
import type { Db } from "../db";
import { type Keyring, unwrapKey } from "./crypto";

/** What a key protects, by kind; `expiring` kinds cannot be re-keyed and are left to expire. */
export interface KeyUse {
  /** The key id, or `undefined` for values written before key ids. */
  keyId: string | undefined;
  kind: KeyKind;
  rows: number;
}

export type KeyKind =
  | "data keys"
  | "code keys"
  | "ip-hash keys"
  | "email lookups"
  | "reset-stream lookups"
  | "sessions"
  | "device tokens"
  | "live codes";

/** Kinds whose hashes cannot be recomputed (the token or code is not kept): they expire. */
export const EXPIRING_KINDS: ReadonlySet<KeyKind> = new Set([
  "sessions",
  "device tokens",
  "live codes",
]);

// '\x726c6b31' is "rlk1", the header crypto.ts wraps keys with, followed by the key id.
const wrappedId = (column: string) =>
  sql.raw(`case when substring(${column} from 1 for 4) = '\\x726c6b31'::bytea
            then encode(substring(${column} from 5 for 4), 'hex') end`);
const hashId = (column: string) =>
  sql.raw(`case when ${column} ~ '^[0-9a-f]{8}\\.' then left(${column}, 8) end`);

/**
 * How many rows each key id protects, per kind: only live sessions, tokens and codes, and only
 * the reset-stream lookups of existing accounts (an erased address's mapping leads nowhere).
 */
export async function keyUses(db: Db): Promise<KeyUse[]> {
  const { rows } = await sql<{ key_id: string | null; kind: KeyKind; rows: number }>`
    select ${wrappedId("wrapped_key")} as key_id, 'data keys' as kind, count(*)::int as rows
      from data_keys group by 1
    union all
    select ${wrappedId("wrapped_key")}, 'code keys', count(*)::int from reset_code_keys group by 1
    union all
    select ${wrappedId("wrapped_key")}, 'ip-hash keys', count(*)::int from ip_hash_keys group by 1
    union all
    select ${hashId("email_lookup")}, 'email lookups', count(*)::int from users group by 1
    union all
    select ${hashId("s.email_lookup")}, 'reset-stream lookups', count(*)::int
      from reset_streams s join users u on u.email_lookup = s.email_lookup group by 1
    union all
    select ${hashId("token_hash")}, 'sessions', count(*)::int
      from sessions where expires_at > now() group by 1
    union all
    select ${hashId("token_hash")}, 'device tokens', count(*)::int
      from device_tokens where expires_at > now() group by 1
    union all
    select ${hashId("code_hash")}, 'live codes', count(*)::int
      from reset_codes where status = 'active' and expires_at > now() group by 1`.execute(db);
  return rows.map((r) => ({ keyId: r.key_id ?? undefined, kind: r.kind, rows: r.rows }));
}

/**
 * The id of the key that wrote the values from before key ids, found by opening one such
 * wrapped key with each listed key: undefined when there are none, null when no key opens it.
 */
export async function legacyKeyId(db: Db, keyring: Keyring): Promise<string | null | undefined> {
  const { rows } = await sql<{ purpose: string; id: string; wrapped_key: Uint8Array }>`
    (select 'data-key' as purpose, subject_id::text as id, wrapped_key from data_keys
      where substring(wrapped_key from 1 for 4) <> '\\x726c6b31'::bytea limit 1)
    union all
    (select 'ip-hash-key', epoch::text, wrapped_key from ip_hash_keys
      where substring(wrapped_key from 1 for 4) <> '\\x726c6b31'::bytea limit 1)
    union all
    (select 'reset-code-key', request_id::text, wrapped_key from reset_code_keys
      where substring(wrapped_key from 1 for 4) <> '\\x726c6b31'::bytea limit 1)`.execute(db);
  const row = rows[0];
  if (row === undefined) return undefined;
  for (const key of keyring.keys) {
    try {
      unwrapKey({ keys: [key], primary: key, legacy: true }, row.purpose, row.id, row.wrapped_key);
      return key.id;
    } catch {
      // Not this key: try the next.
    }
  }
  return null;
}

/**
 * Key uses with the values from before key ids attributed to the key that opens them; `unknown`
 * when no listed key does, `unverified` when no wrapped key of that time is left to try.
 */
export async function attributedKeyUses(
  db: Db,
  keyring: Keyring,
): Promise<{ uses: KeyUse[]; legacy: "none" | "unknown" | "unverified" | string }> {
  const uses = await keyUses(db);
  if (!uses.some((u) => u.keyId === undefined)) return { uses, legacy: "none" };
  const found = await legacyKeyId(db, keyring);
  if (found === undefined) return { uses, legacy: "unverified" };
  if (found === null) return { uses, legacy: "unknown" };
  return {
    uses: uses.map((u) => (u.keyId === undefined ? { ...u, keyId: found } : u)),
    legacy: found,
  };
}

export interface KeyShortfall {
  /** The key id, or undefined for values from before key ids that no listed key opens. */
  keyId: string | undefined;
  rows: number;
  kinds: string[];
}

export interface KeyCheck {
  /** Rows that must be opened and that no listed key opens. */
  missing: KeyShortfall[];
  /** Rows left to expire under keys no longer listed. */
  expiring: KeyShortfall[];
  /** Whether any value from before key ids remains. */
  legacy: boolean;
}

/** Which rows of the database the listed keys cannot open. */
export async function checkKeys(db: Db, keyring: Keyring): Promise<KeyCheck> {
  const { uses, legacy } = await attributedKeyUses(db, keyring);
  const listed = new Set(keyring.keys.map((k) => k.id));
  // Old-form hashes with no old-form wrapped key left to try them by: nothing says they are lost.
  const unopened = (u: KeyUse) =>
    u.keyId === undefined ? legacy === "unknown" : !listed.has(u.keyId);
  const group = (wanted: (u: KeyUse) => boolean) => {
    const byKey = new Map<string | undefined, KeyShortfall>();
    for (const use of uses.filter((u) => unopened(u) && wanted(u))) {
      const entry = byKey.get(use.keyId) ?? { keyId: use.keyId, rows: 0, kinds: [] };
      entry.rows += use.rows;
      entry.kinds.push(`${use.rows} ${use.kind}`);
      byKey.set(use.keyId, entry);
    }
    return [...byKey.values()];
  };
  return {
    missing: group((u) => !EXPIRING_KINDS.has(u.kind)),
    expiring: group((u) => EXPIRING_KINDS.has(u.kind)),
    legacy: legacy !== "none",
  };
}
