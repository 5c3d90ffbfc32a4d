import type { Db } from "../db";
import type { Tx } from "../event-store";
import { type Keyring, unwrapKey, wrapKey } from "./crypto";

const PURPOSE = "reset-code-key";
/** More than a dispatch deadline's worth of requests at any load this process can carry. */
const HANDOVER_LIMIT = 10_000;

/**
 * One key per reset request, sealing only that request's code. The row is deleted once the
 * request's email outcome is recorded; from then on no key the service holds opens the seal.
 */
export class CodeKeys {
  /** Keys this process stored and its mailer has not asked for yet, oldest first. */
  private readonly handover = new Map<string, Buffer>();

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
    // This process's mailer usually asks for it a moment later: hand it over without a read.
    if (this.handover.size >= HANDOVER_LIMIT) {
      const oldest = this.handover.keys().next().value;
      if (oldest !== undefined) this.handover.delete(oldest);
    }
    this.handover.set(requestId, Buffer.from(key));
  }

  /** The request's key, or undefined once its outcome was recorded (or the user erased). */
  async find(requestId: string): Promise<Buffer | undefined> {
    // Taken once: a second ask (a retry, another process) reads the row, which the outcome deletes.
    const handed = this.handover.get(requestId);
    if (handed !== undefined) {
      this.handover.delete(requestId);
      return handed;
    }
    const row = await this.db
      .selectFrom("reset_code_keys")
      .select("wrapped_key")
      .where("request_id", "=", requestId)
      .executeTakeFirst();
    return row ? unwrapKey(this.keyring, PURPOSE, requestId, row.wrapped_key) : undefined;
  }
}

/** Crypto-shredding of requests' codes: run in the transaction that records their outcomes. */
export async function destroyCodeKeys(trx: Tx | Db, requestIds: string[]): Promise<void> {
  if (requestIds.length === 0) return;
  await trx.deleteFrom("reset_code_keys").where("request_id", "in", requestIds).execute();
}
