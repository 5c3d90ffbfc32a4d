import type { Feature } from "../context";
import { homeRoutes } from "./routes";

/** GET /: the service's name, version and links. */
export const homeFeature: Feature = {
  name: "home",
  routes: (ctx) => [homeRoutes(ctx)],
};
