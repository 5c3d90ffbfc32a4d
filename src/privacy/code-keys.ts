import type { Db } from "../db";
import type { Tx } from "../event-store";
import { type Keyring, unwrapKey, wrapKey } from "./crypto";

const PURPOSE = "reset-code-key";

/**
 * One key per reset request, sealing only that request's code. The row is deleted once the
 * request's email outcome is recorded; from then on no key the service holds opens the seal.
 */
export class CodeKeys {
  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
  ) {}

  /** Stores the request's key wrapped; it must commit before the event holding the seal. */
  async store(requestId: string, key: Uint8Array): Promise<void> {
    await this.db
      .insertInto("reset_code_keys")
      .values({
        request_id: requestId,
        wrapped_key: wrapKey(this.keyring, PURPOSE, requestId, key),
      })
      .execute();
  }

  /** The request's key, or undefined once its outcome was recorded (or the user erased). */
  async find(requestId: string): Promise<Buffer | undefined> {
    const row = await this.db
      .selectFrom("reset_code_keys")
      .select("wrapped_key")
      .where("request_id", "=", requestId)
      .executeTakeFirst();
    return row ? unwrapKey(this.keyring, PURPOSE, requestId, row.wrapped_key) : undefined;
  }
}

/** Crypto-shredding of a request's code: run in the transaction that records its outcome. */
export async function destroyCodeKey(trx: Tx | Db, requestId: string): Promise<void> {
  await trx.deleteFrom("reset_code_keys").where("request_id", "=", requestId).execute();
}
