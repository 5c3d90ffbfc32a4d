import { createHmac } from "node:crypto";
import type { Db } from "../db";
import { type Keyring, newDataKey, unwrapKey, wrapKey } from "./crypto";

const PURPOSE = "ip-hash-key";
export const IP_HASH_EPOCH_MS = 24 * 60 * 60 * 1000;

/**
 * Client-IP hashes under a key that changes every epoch (a day); a past epoch's key is deleted
 * once a newer one exists. Within an epoch equal addresses hash alike (limits, correlation);
 * afterwards the hashes in the log can no longer be matched against any address.
 */
export class IpHashes {
  private current: { epoch: number; key: Buffer } | undefined;
  private loading: Promise<{ epoch: number; key: Buffer }> | undefined;

  constructor(
    private readonly db: Db,
    private readonly keyring: Keyring,
    private readonly now: () => number = Date.now,
    private readonly epochMs = IP_HASH_EPOCH_MS,
  ) {}

  async of(ip: string): Promise<string> {
    const { key } = await this.key();
    return createHmac("sha256", key).update(`ip\0${ip}`).digest("hex");
  }

  private async key(): Promise<{ epoch: number; key: Buffer }> {
    const epoch = Math.floor(this.now() / this.epochMs);
    if (this.current?.epoch === epoch) return this.current;
    if (this.loading === undefined) {
      // Concurrent callers at an epoch's start share one load.
      this.loading = this.load(epoch).finally(() => {
        this.loading = undefined;
      });
    }
    const loaded = await this.loading;
    if (loaded.epoch !== epoch) return this.key();
    this.current = loaded;
    return loaded;
  }

  private async load(epoch: number): Promise<{ epoch: number; key: Buffer }> {
    await this.db
      .insertInto("ip_hash_keys")
      .values({ epoch, wrapped_key: wrapKey(this.keyring, PURPOSE, String(epoch), newDataKey()) })
      .onConflict((oc) => oc.column("epoch").doNothing())
      .execute();
    const row = await this.db
      .selectFrom("ip_hash_keys")
      .select("wrapped_key")
      .where("epoch", "=", epoch)
      .executeTakeFirstOrThrow();
    // Older epochs' keys are no longer needed by anyone: destroying them ends their hashes.
    await this.db.deleteFrom("ip_hash_keys").where("epoch", "<", epoch).execute();
    return { epoch, key: unwrapKey(this.keyring, PURPOSE, String(epoch), row.wrapped_key) };
  }
}
