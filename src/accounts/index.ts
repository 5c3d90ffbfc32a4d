import { deviceTokensProjection, sweepDeviceTokens } from "../../projections/device-tokens";
import {
  PASSWORD_CHANGED_MAILER,
  passwordChangedMailer,
} from "../../projections/emails/password-changed-mailer";
import { sessionsProjection, sweepSessions } from "../../projections/sessions";
import { usersProjection } from "../../projections/users";
import type { Feature } from "../context";
import { accountRoutes } from "./routes";

/** Accounts, their sessions and recognised devices, and the notice of a changed password. */
export const accountsFeature: Feature = {
  name: "accounts",
  routes: (ctx) => [accountRoutes(ctx)],
  inlineProjections: ({ dataKeys, keyring }) => [
    usersProjection({ dataKeys, keyring }),
    sessionsProjection,
    deviceTokensProjection,
  ],
  sweeps: [sweepSessions, sweepDeviceTokens],
  subscribers: [
    { name: PASSWORD_CHANGED_MAILER, types: ["PasswordChanged"], handler: passwordChangedMailer },
  ],
};
