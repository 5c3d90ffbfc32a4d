import type { Feature } from "../context";
import { auditPageRoutes } from "./page";
import { auditRoutes } from "./routes";

/** The audit API and its page; it reads the log itself, so it keeps no read model. */
export const auditFeature: Feature = {
  name: "audit",
  routes: (ctx) => [auditRoutes(ctx), auditPageRoutes()],
};
