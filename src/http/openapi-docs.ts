import { dirname, join } from "node:path";
import { toOpenAPISchema } from "@elysiajs/openapi";
import { type AnyElysia, Elysia } from "elysia";
import { apiError, jsonResponse } from "./openapi";

/** The viewer ships in the npm package (version pinned in package.json): never a CDN. */
const SCALAR_BUNDLE = join(
  dirname(Bun.resolveSync("@scalar/api-reference", import.meta.dir)),
  "browser",
  "standalone.js",
);

/** Routes that take a bearer token; every other operation is public. */
const BEARER_PATHS = [/^\/v1\/audit\//, /^\/v1\/auth\/(me|logout|sessions)(\/|$)/];

const documentation = {
  openapi: "3.1.0",
  info: {
    title: "Password reset service",
    version: "1.0.0",
    description:
      "Event-sourced account recovery: reset codes by email, and an auditable history of every reset.",
    license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
  },
  // Relative: "try it" and every client reach the server that served the document.
  servers: [{ url: "/", description: "This server" }],
  components: {
    securitySchemes: {
      bearer: {
        type: "http",
        scheme: "bearer",
        description:
          "A session token on /v1/auth/me, logout and sessions, or AUDIT_TOKEN on /v1/audit",
      },
    },
  },
};

type Operation = {
  requestBody?: unknown;
  responses?: Record<string, { headers?: Record<string, unknown> } & Record<string, unknown>>;
  parameters?: unknown[];
  security?: unknown[];
};

const requestIdHeader = {
  description:
    "The request's id: the caller's X-Request-Id when it is a sane token, else a new one",
  schema: { type: "string" },
};

/** Security per operation, 413 on bodies, and X-Request-Id on every request and response. */
export function finishDocument(paths: Record<string, Record<string, Operation>>) {
  for (const [path, item] of Object.entries(paths)) {
    for (const operation of Object.values(item)) {
      operation.security = BEARER_PATHS.some((p) => p.test(path)) ? [{ bearer: [] }] : [];
      operation.parameters = [
        ...(operation.parameters ?? []),
        {
          name: "X-Request-Id",
          in: "header",
          required: false,
          description: "A token (1-128 of A-Z a-z 0-9 . _ : -) to find this request in the logs",
          schema: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" },
        },
      ];
      const responses = operation.responses ?? {};
      if (operation.requestBody !== undefined && responses["413"] === undefined) {
        responses["413"] = jsonResponse(
          "Request body over 16 KiB",
          apiError("request body too large"),
        );
      }
      for (const response of Object.values(responses)) {
        response.headers = { ...response.headers, "X-Request-Id": requestIdHeader };
      }
      operation.responses = responses;
    }
  }
  return paths;
}

function page(): string {
  const configuration = {
    url: "/openapi/json",
    // No font CDN: the system fonts keep the page whole offline.
    withDefaultFonts: false,
    hideClientButton: false,
  };
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${documentation.info.title}</title>
  </head>
  <body>
    <script id="api-reference" data-configuration='${JSON.stringify(configuration)}'></script>
    <script src="/openapi/scalar.js"></script>
  </body>
</html>`;
}

/**
 * GET /openapi (the viewer), /openapi/scalar.js (its bundle, served from node_modules) and
 * /openapi/json (the OpenAPI 3.1 document of every route `app()` holds).
 */
export function openApiDocs(app: () => AnyElysia) {
  let cached: { routes: number; document: unknown } | undefined;
  const hidden = { detail: { hide: true } };
  return new Elysia({ name: "openapi-docs" })
    .get(
      "/openapi",
      () => new Response(page(), { headers: { "content-type": "text/html; charset=utf-8" } }),
      hidden,
    )
    .get(
      "/openapi/scalar.js",
      () =>
        new Response(Bun.file(SCALAR_BUNDLE), {
          headers: {
            "content-type": "text/javascript; charset=utf-8",
            "cache-control": "public, max-age=86400",
          },
        }),
      hidden,
    )
    .get(
      "/openapi/json",
      () => {
        const routes = app().routes.length;
        if (cached?.routes !== routes) {
          const generated = toOpenAPISchema(app(), undefined, undefined, undefined, "3.1.0");
          cached = {
            routes,
            document: {
              ...documentation,
              paths: finishDocument(
                generated.paths as unknown as Record<string, Record<string, Operation>>,
              ),
              components: {
                ...documentation.components,
                ...(Object.keys(generated.components?.schemas ?? {}).length > 0
                  ? { schemas: generated.components.schemas }
                  : {}),
              },
            },
          };
        }
        return cached.document;
      },
      hidden,
    );
}
