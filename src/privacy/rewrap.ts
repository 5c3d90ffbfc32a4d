import { sql } from "kysely";
import type { Db } from "../db";
import { emailLookup, type Keyring, unseal, unwrapKey, wrapKey, wrappedPrefix } from "./crypto";

export interface RewrapCounts {
  "data keys": number;
  "code keys": number;
  "ip-hash keys": number;
  "email lookups": number;
}

const WRAPPED = {
  "data keys": { table: "data_keys", id: "subject_id", purpose: "data-key" },
  "code keys": { table: "reset_code_keys", id: "request_id", purpose: "reset-code-key" },
  "ip-hash keys": { table: "ip_hash_keys", id: "epoch", purpose: "ip-hash-key" },
} as const;

/**
 * Moves every row that can be moved under the keyring's first key, `batchSize` rows a
 * statement, while servers keep running. Each row is written only if it is still what was
 * read (compare and set), so a concurrent erasure or rewrite wins; a run stopped half-way
 * is resumed by running it again, which finds only the rows still under other keys. Plaintext
 * (a data key, an email) lives only in this process's memory, for the time of one row.
 */
export async function rewrap(
  db: Db,
  keyring: Keyring,
  options: { batchSize?: number; onBatch?: (kind: string, moved: number) => void } = {},
): Promise<RewrapCounts> {
  const batchSize = options.batchSize ?? 500;
  const counts: RewrapCounts = {
    "data keys": 0,
    "code keys": 0,
    "ip-hash keys": 0,
    "email lookups": 0,
  };
  // Lookups first: recomputing one opens the user's data key, which any listed key still does.
  counts["email lookups"] = await rekeyEmailLookups(db, keyring, batchSize, options.onBatch);
  for (const [kind, spec] of Object.entries(WRAPPED) as [
    keyof typeof WRAPPED,
    (typeof WRAPPED)[keyof typeof WRAPPED],
  ][]) {
    counts[kind] = await rewrapTable(db, keyring, spec, batchSize, (moved) =>
      options.onBatch?.(kind, moved),
    );
  }
  return counts;
}

async function rewrapTable(
  db: Db,
  keyring: Keyring,
  spec: (typeof WRAPPED)[keyof typeof WRAPPED],
  batchSize: number,
  onBatch: (moved: number) => void,
): Promise<number> {
  const table = sql.table(spec.table);
  const idColumn = sql.ref(spec.id);
  let after = "";
  let moved = 0;
  for (;;) {
    const { rows } = await sql<{ id: string; wrapped_key: Uint8Array }>`
      select ${idColumn}::text as id, wrapped_key from ${table}
      where substring(wrapped_key from 1 for 8) <> ${wrappedPrefix(keyring.primary.id)}
        and ${idColumn}::text > ${after}
      order by ${idColumn}::text limit ${batchSize}`.execute(db);
    if (rows.length === 0) return moved;
    after = rows[rows.length - 1]?.id ?? after;
    let batch = 0;
    for (const row of rows) {
      const key = unwrapKey(keyring, spec.purpose, row.id, row.wrapped_key);
      const rewrapped = wrapKey(keyring, spec.purpose, row.id, key);
      key.fill(0);
      const result = await sql`
        update ${table} set wrapped_key = ${rewrapped}
        where ${idColumn}::text = ${row.id} and wrapped_key = ${row.wrapped_key}`.execute(db);
      batch += Number(result.numAffectedRows ?? 0);
    }
    moved += batch;
    onBatch(batch);
  }
}

/**
 * Recomputes the email lookups not under the first key: the email is sealed under the user's
 * data key, opened here in memory only. The account's reset-stream mapping moves with it.
 */
async function rekeyEmailLookups(
  db: Db,
  keyring: Keyring,
  batchSize: number,
  onBatch?: (kind: string, moved: number) => void,
): Promise<number> {
  const prefix = `${keyring.primary.id}.`;
  let after = "00000000-0000-0000-0000-000000000000";
  let moved = 0;
  for (;;) {
    const { rows } = await sql<{
      id: string;
      sealed_email: string;
      email_lookup: string;
      wrapped_key: Uint8Array | null;
    }>`
      select u.id::text as id, u.sealed_email, u.email_lookup, k.wrapped_key
      from users u left join data_keys k on k.subject_id = u.id
      where left(u.email_lookup, ${prefix.length}) <> ${prefix} and u.id > ${after}::uuid
      order by u.id limit ${batchSize}`.execute(db);
    if (rows.length === 0) return moved;
    after = rows[rows.length - 1]?.id ?? after;
    let batch = 0;
    for (const row of rows) {
      // An account without a data key is being erased: its row goes with the erasure.
      if (row.wrapped_key === null) continue;
      const dataKey = unwrapKey(keyring, "data-key", row.id, row.wrapped_key);
      const lookup = emailLookup(keyring, unseal(dataKey, row.id, row.sealed_email));
      dataKey.fill(0);
      batch += await db.transaction().execute(async (trx) => {
        const result = await sql`
          update users set email_lookup = ${lookup}
          where id = ${row.id}::uuid and email_lookup = ${row.email_lookup}`.execute(trx);
        if (Number(result.numAffectedRows ?? 0) === 0) return 0;
        await sql`update reset_streams set email_lookup = ${lookup}
                  where email_lookup = ${row.email_lookup}`.execute(trx);
        return 1;
      });
    }
    moved += batch;
    onBatch?.("email lookups", batch);
  }
}
