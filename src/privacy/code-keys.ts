import type { Db } from "../db";
import { type Keyring, unwrapKey, wrapKey } from "./crypto";

const PURPOSE = "reset-code-key";
/** More than a dispatch deadline's worth of requests at any load this process can carry. */
const HANDOVER_LIMIT = 10_000;

/**
 * One key per reset request, sealing only that request's code. The key is written wrapped in
 * the transaction that records the request, and deleted in the one that records its email's
 * outcome; from then on no key the service holds opens the seal.
 */
export class CodeKeys {
  /** Wrapped keys of requests being appended by this process, for the append's transaction. */
  private readonly pending = new Map<string, Uint8Array>();
  /** Keys this process holds for its mailer, which usually asks a moment later; oldest first. */
  private readonly handover = new Map<string, Buffer>();

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
  ) {}

  /** Holds the request's key until the append that records the request writes it. */
  hold(requestId: string, key: Uint8Array): void {
    this.pending.set(requestId, wrapKey(this.keyring, PURPOSE, requestId, key));
    if (this.handover.size >= HANDOVER_LIMIT) {
      const oldest = this.handover.keys().next().value;
      if (oldest !== undefined) this.handover.delete(oldest);
    }
    this.handover.set(requestId, Buffer.from(key));
  }

  /**
   * Holds a concealed rejection's throwaway key as hold does, so it is written like a request's
   * (the sweep removes it, as it does keys whose outcome never came); no mailer ever asks for it.
   */
  holdDecoy(requestId: string, key: Uint8Array): void {
    this.pending.set(requestId, wrapKey(this.keyring, PURPOSE, requestId, key));
  }

  /** Forgets a held key whose request was not recorded. */
  release(requestId: string): void {
    this.pending.delete(requestId);
    this.handover.delete(requestId);
  }

  /**
   * The held (wrapped) keys of these requests, for the statement that records them. Kept until
   * the request is recorded: a round that fails is retried one append at a time, which must
   * write the key again.
   */
  takeHeld(requestIds: string[]): Map<string, Uint8Array> {
    const held = new Map<string, Uint8Array>();
    for (const id of requestIds) {
      const wrapped = this.pending.get(id);
      if (wrapped !== undefined) held.set(id, wrapped);
    }
    return held;
  }

  /** The request's append committed with its key: the wrapped copy is no longer needed. */
  recorded(requestId: string): void {
    this.pending.delete(requestId);
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
