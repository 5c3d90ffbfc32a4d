import { Elysia } from "elysia";

const files = {
  "/audit": ["index.html", "text/html; charset=utf-8"],
  "/audit/audit.js": ["audit.js", "text/javascript; charset=utf-8"],
  "/audit/labels.js": ["labels.js", "text/javascript; charset=utf-8"],
  "/audit/audit.css": ["audit.css", "text/css; charset=utf-8"],
} as const;

// Everything the page needs comes from here; the browser is told so as well.
const POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/** The auditors' page: plain files from src/audit/page, no build step, nothing from a CDN. */
export function auditPageRoutes() {
  let app = new Elysia({ name: "audit-page" });
  for (const [path, [file, type]] of Object.entries(files)) {
    app = app.get(
      path,
      () =>
        new Response(Bun.file(new URL(`./page/${file}`, import.meta.url)), {
          headers: {
            "content-type": type,
            "content-security-policy": POLICY,
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "cache-control": "no-cache",
          },
        }),
      { detail: { hide: true } },
    );
  }
  return app;
}
