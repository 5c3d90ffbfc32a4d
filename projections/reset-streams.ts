import { randomUUID } from "node:crypto";
import { passwordResetStreamPrefix } from "../events/password-reset";
import type { Db } from "../src/db";
import type { Tx } from "../src/event-store";

/**
 * Gives an address (by its email lookup) a fresh random reset stream: at registration its
 * history starts with the account, and at erasure the old mapping is destroyed, so nothing
 * leads from the email back to the erased user's requests.
 */
export async function startResetStream(trx: Tx | Db, emailLookup: string): Promise<void> {
  const streamId = `${passwordResetStreamPrefix}${randomUUID()}`;
  await trx
    .insertInto("reset_streams")
    .values({ email_lookup: emailLookup, stream_id: streamId })
    .onConflict((oc) => oc.column("email_lookup").doUpdateSet({ stream_id: streamId }))
    .execute();
}
