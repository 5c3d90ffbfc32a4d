import type { Feature } from "../context";
import { mailCatcherRoutes } from "./routes";

/** The console mailer's last emails at /dev/mail, outside production. */
export const mailCatcherFeature: Feature = {
  name: "mail-catcher",
  routes: (ctx) => [mailCatcherRoutes(ctx)],
};
