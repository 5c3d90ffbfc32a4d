import { sentMessagesProjection } from "../../projections/sent-messages";
import type { Feature } from "../context";
import { webhookRoutes } from "./routes";

/** Mailgun's delivery reports, and the sent messages they are matched against. */
export const webhooksFeature: Feature = {
  name: "webhooks",
  routes: (ctx) => [webhookRoutes(ctx)],
  inlineProjections: () => [sentMessagesProjection],
};
