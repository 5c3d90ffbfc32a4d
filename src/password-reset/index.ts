import { activeResetCodesProjection, sweepResetCodes } from "../../projections/active-reset-codes";
import { RESET_MAILER, resetMailer } from "../../projections/emails/reset-mailer";
import { resetCodeKeysProjection, sweepResetCodeKeys } from "../../projections/reset-code-keys";
import type { Feature } from "../context";
import { startFlushingRefusals } from "./refusals";
import { passwordResetRoutes } from "./routes";

/** The reset: its codes and their keys, and the email that carries each code. */
export const passwordResetFeature: Feature = {
  name: "password-reset",
  routes: (ctx) => [passwordResetRoutes(ctx)],
  inlineProjections: ({ codeKeys }) => [
    activeResetCodesProjection,
    resetCodeKeysProjection(codeKeys),
  ],
  sweeps: [sweepResetCodes, sweepResetCodeKeys],
  // Refusals counted in memory are written to their streams' logs now and then.
  background: startFlushingRefusals,
  subscribers: [
    {
      name: RESET_MAILER,
      types: ["PasswordResetRequested"],
      handler: ({ mailBatching, ...deps }) => resetMailer({ ...deps, batching: mailBatching }),
    },
  ],
};
