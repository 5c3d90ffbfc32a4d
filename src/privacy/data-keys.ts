import { sql } from "kysely";
import type { Db } from "../db";
import type { Tx } from "../event-store";
import { type Keyring, newDataKey, unseal, unwrapDataKey, wrapDataKey } from "./crypto";

/**
 * Per-subject (per-user) data keys, stored wrapped by SECRET_KEY. Destroying a key erases every
 * value sealed under it, wherever it was written — the events themselves never change.
 */
export class DataKeys {
  private readonly cache = new Map<string, Buffer>();
  /** Subjects erased by this process: a read racing the erasure must not re-cache their key. */
  private readonly erased = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly cacheSize = 10_000,
  ) {}

  /** Creates the subject's key in the caller's transaction, so it commits with the first event. */
  async create(trx: Tx | Db, subjectId: string): Promise<Buffer> {
    const key = newDataKey();
    await trx
      .insertInto("data_keys")
      .values({ subject_id: subjectId, wrapped_key: wrapDataKey(this.keyring, subjectId, key) })
      .execute();
    this.remember(subjectId, key);
    return key;
  }

  /** The subject's key, or undefined when it was erased (or never existed). */
  async find(subjectId: string, db: Tx | Db = this.db): Promise<Buffer | undefined> {
    if (this.erased.has(subjectId)) return undefined;
    const cached = this.cache.get(subjectId);
    if (cached) return cached;
    const row = await db
      .selectFrom("data_keys")
      .select("wrapped_key")
      .where("subject_id", "=", subjectId)
      .executeTakeFirst();
    return this.adopt(subjectId, row?.wrapped_key ?? null);
  }

  /**
   * The subject's key from its wrapped form as a read found it (undefined when it found none, or
   * when this process erased the subject meanwhile): what `find` reads, or what a read of
   * something else brought along.
   */
  adopt(subjectId: string, wrapped: Uint8Array | null): Buffer | undefined {
    if (this.erased.has(subjectId) || !wrapped) {
      this.cache.delete(subjectId);
      return undefined;
    }
    const cached = this.cache.get(subjectId);
    if (cached) return cached;
    const key = unwrapDataKey(this.keyring, subjectId, wrapped);
    this.remember(subjectId, key);
    return key;
  }

  async destroy(trx: Tx | Db, subjectId: string): Promise<void> {
    this.cache.delete(subjectId);
    await sql`delete from data_keys where subject_id = ${subjectId}::uuid`.execute(trx);
  }

  /** After the erasure committed: the key is gone for good (subject ids are never reused). */
  markErased(subjectId: string): void {
    this.erased.add(subjectId);
    this.cache.delete(subjectId);
  }

  /** Drops a cached key, e.g. when another process erased the subject. */
  forget(subjectId: string): void {
    this.cache.delete(subjectId);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  /** The plaintext, or undefined when the subject's key is gone. */
  async unseal(
    subjectId: string,
    sealed: string,
    db: Tx | Db = this.db,
  ): Promise<string | undefined> {
    const key = await this.find(subjectId, db);
    return key ? unseal(key, subjectId, sealed) : undefined;
  }

  private remember(subjectId: string, key: Buffer): void {
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(subjectId, key);
  }
}
