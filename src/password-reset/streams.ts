import { passwordResetStreamPrefix } from "../../events/password-reset";
import { type Db, runRead } from "../db";
import { deterministicUuid, type Tx } from "../event-store";
import { bareKeyedHash, emailLookups, type Keyring } from "../privacy";

/**
 * The reset stream of an email that never had an account: opaque (a keyed hash shaped as a
 * uuid), never the address, shared by every request for it so its limits hold.
 */
export function resetStreamId(keyring: Keyring, email: string): string {
  return `${passwordResetStreamPrefix}${deterministicUuid(bareKeyedHash(keyring.primary, "reset-stream", email))}`;
}

const RESET_STREAM =
  "select stream_id from reset_streams where email_lookup = any($1::text[]) limit 1";

/**
 * The email's reset stream: its own random one once the address was registered (or erased),
 * found only through `reset_streams`; otherwise the keyed-hash one of an unknown address.
 */
export async function resetStreamOf(
  ctx: { db: Db | Tx; keyring: Keyring },
  email: string,
): Promise<string> {
  const [row] = await runRead<{ stream_id: string }>(ctx.db, RESET_STREAM, [
    emailLookups(ctx.keyring, email),
  ]);
  return row?.stream_id ?? resetStreamId(ctx.keyring, email);
}

/** An account as a trigger reads it: its id, sealed email and wrapped data key (none once erased). */
export interface TriggerAccount {
  id: string;
  sealed_email: string;
  sealed_locale: string | null;
  wrapped_key: Uint8Array | null;
}

const ACCOUNT_AND_RESET_STREAM = `
  select u.id, u.sealed_email, u.sealed_locale, k.wrapped_key,
         (select stream_id from reset_streams where email_lookup = any($1::text[]) limit 1) as stream_id
  from (select 1) as one
  left join users u on u.email_lookup = any($1::text[])
  left join data_keys k on k.subject_id = u.id`;

/**
 * The email's account (if any), its data key and its reset stream in one read: all are found
 * by the same lookup hash, and every trigger needs them.
 */
export async function accountAndResetStream(
  ctx: { db: Db | Tx; keyring: Keyring },
  email: string,
): Promise<{ user: TriggerAccount | undefined; streamId: string }> {
  const lookup = emailLookups(ctx.keyring, email);
  const rows = await runRead<{
    id: string | null;
    sealed_email: string | null;
    sealed_locale: string | null;
    wrapped_key: Uint8Array | null;
    stream_id: string | null;
  }>(ctx.db, ACCOUNT_AND_RESET_STREAM, [lookup]);
  const row = rows[0];
  return {
    user:
      row?.id != null && row.sealed_email != null
        ? {
            id: row.id,
            sealed_email: row.sealed_email,
            sealed_locale: row.sealed_locale,
            wrapped_key: row.wrapped_key,
          }
        : undefined,
    streamId: row?.stream_id ?? resetStreamId(ctx.keyring, email),
  };
}
