import type { Feature } from "../context";
import { operationsRoutes } from "./routes";

/** The health checks. */
export const operationsFeature: Feature = {
  name: "operations",
  routes: (ctx) => [operationsRoutes(ctx)],
};
