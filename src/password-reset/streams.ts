import { passwordResetStreamPrefix } from "../../events/password-reset";
import { deterministicUuid } from "../event-store";
import { type Keyring, keyedHash } from "../privacy";

/** The reset stream of an email: opaque (a keyed hash shaped as a uuid), never the address. */
export function resetStreamId(keyring: Keyring, email: string): string {
  return `${passwordResetStreamPrefix}${deterministicUuid(keyedHash(keyring, "reset-stream", email))}`;
}
