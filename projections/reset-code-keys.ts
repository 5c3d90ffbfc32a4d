import type { InlineProjection } from "../src/event-store";
import { destroyCodeKeys } from "../src/privacy";

/**
 * Codes are forgotten once delivered: the request's code key is deleted in the transaction that
 * records the email's outcome, whichever it is, so the sealed copy in the log opens no more.
 */
export const resetCodeKeysProjection: InlineProjection = {
  name: "reset-code-keys",
  handles: ["PasswordResetEmailSent", "PasswordResetEmailFailed"],
  async apply(trx, event) {
    await this.applyAll?.(trx, [event]);
  },
  // The outcomes of one group commit: one statement for all their keys.
  async applyAll(trx, events) {
    await destroyCodeKeys(
      trx,
      events.map((e) => (e.data as { requestId: string }).requestId),
    );
  },
};
