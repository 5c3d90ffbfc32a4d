export { CodeKeys } from "./code-keys";
export {
  bareKeyedHash,
  constantTimeEqual,
  deriveKeyring,
  emailLookup,
  emailLookups,
  isSealed,
  type Keyring,
  keyedHash,
  keyedHashes,
  MissingKeyError,
  newDataKey,
  seal,
  sealedLength,
  unseal,
  unwrapDataKey,
  wrapDataKey,
} from "./crypto";
export { DataKeys } from "./data-keys";
export { IP_HASH_EPOCH_MS, IpHashes } from "./ip-hashes";
export { loadOrCreateDevSecret } from "./secret";
