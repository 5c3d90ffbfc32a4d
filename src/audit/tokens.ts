import { createHash, timingSafeEqual } from "node:crypto";
import type { AuditToken } from "../config";

const digest = (text: string) => createHash("sha256").update(text).digest();

/**
 * Finds the configured token a request presented. Digests make every comparison the same
 * length, and every token is compared whatever matched, so the time tells neither which
 * token matched nor how long any is.
 */
export function auditTokenMatcher(tokens: readonly AuditToken[]) {
  const known = tokens.map((token) => ({ token, digest: digest(token.token) }));
  return (given: string): AuditToken | undefined => {
    const presented = digest(given);
    let found: AuditToken | undefined;
    for (const candidate of known) {
      const equal = timingSafeEqual(presented, candidate.digest);
      found = equal ? candidate.token : found;
    }
    return found;
  };
}
