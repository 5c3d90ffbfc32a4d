import { userOfStream } from "../../events/user";
import { isSealed, unseal } from "../privacy";

export const ERASED = "[erased]";

/** Fields that are secrets, not personal data: never shown, whoever asks. */
const SECRET_FIELDS = new Set(["sealedCode", "codeHash", "sealedPasswordHash", "sealedTokenHash"]);
/** Fields that only bring an event to a size (conceal mode's rejections): they say nothing. */
const FILLER_FIELDS = new Set(["padding"]);

/**
 * Shows an event's data or metadata to an auditor: secrets dropped, sealed personal data
 * unsealed (`sealedEmail` → `email`) with the subject's key, or "[erased]" when the key is gone.
 */
export function presentFields(
  fields: Record<string, unknown>,
  subjectId: string | undefined,
  key: Uint8Array | undefined,
): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (SECRET_FIELDS.has(name) || FILLER_FIELDS.has(name)) continue;
    if (!isSealed(value)) {
      shown[name] = value;
      continue;
    }
    const plainName = name.startsWith("sealed")
      ? name.charAt(6).toLowerCase() + name.slice(7)
      : name;
    shown[plainName] = key && subjectId ? unsealOrErased(key, subjectId, value) : ERASED;
  }
  return shown;
}

function unsealOrErased(key: Uint8Array, subjectId: string, value: string): string {
  try {
    return unseal(key, subjectId, value);
  } catch {
    return ERASED;
  }
}

/** Whose data key seals an event's personal data: its userId, or the user stream it is in. */
export function subjectOf(streamId: string, data: Record<string, unknown>): string | undefined {
  if (typeof data.userId === "string") return data.userId;
  return userOfStream(streamId);
}
