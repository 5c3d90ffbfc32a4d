export { CodeKeys } from "./code-keys";
export {
  constantTimeEqual,
  deriveKeyring,
  emailLookup,
  isSealed,
  type Keyring,
  keyedHash,
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
