export {
  constantTimeEqual,
  deriveKeyring,
  isSealed,
  type Keyring,
  keyedHash,
  seal,
  unseal,
} from "./crypto";
export { DataKeys } from "./data-keys";
export { loadOrCreateDevSecret } from "./secret";
