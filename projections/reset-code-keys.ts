import { isConcealedRejection, isDispatchOutcome } from "../events/password-reset";
import type { InlineProjection } from "../src/event-store";
import { type CodeKeys, destroyCodeKeys } from "../src/privacy";

const requestIdOf = (data: unknown) => (data as { requestId: string }).requestId;

/**
 * A request's code key lives exactly as long as the request is waiting for its email: written
 * in the transaction that records the request, deleted in the one that records the outcome,
 * whichever it is, so the sealed copy in the log opens no more. A concealed rejection's
 * throwaway key is written alike (it opens nothing in the log), so an unknown email costs
 * what a known one does; the sweep removes it.
 */
export function resetCodeKeysProjection(codeKeys: CodeKeys): InlineProjection {
  return {
    name: "reset-code-keys",
    handles: [
      "PasswordResetRequested",
      "PasswordResetRejected",
      "PasswordResetEmailSent",
      "PasswordResetEmailFailed",
    ],
    async apply(trx, event) {
      await this.applyAll?.(trx, [event]);
    },
    // The events of one group commit: one statement for the new keys, one for the spent ones.
    async applyAll(trx, events) {
      const requested = events.filter(
        (e) => e.type === "PasswordResetRequested" || isConcealedRejection(e),
      );
      const settled = events.filter(isDispatchOutcome);
      await codeKeys.writeHeld(
        trx,
        requested.map((e) => requestIdOf(e.data)),
      );
      await destroyCodeKeys(
        trx,
        settled.map((e) => requestIdOf(e.data)),
      );
    },
  };
}
