/**
 * The API docs (README: API): /openapi renders in a real browser with the network held to
 * the service's own origin, showing the trigger's operation and its responses, under a content
 * security policy it never trips (scripts from the origin only, inline styles by nonce, never
 * framed), with the package's version and license, Auth first and none of the viewer's buttons
 * that need Scalar's hosted services; the document at /openapi/json lints clean with Redocly's
 * recommended rules.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { version } from "../../package.json";
import { browserInstalled, closeBrowser, openPage } from "../support/browser";
import { runCommand } from "../support/command";
import { TRIGGER, useServer } from "../support/e2e";
import { waitFor } from "../support/wait";

const root = join(import.meta.dir, "..", "..");
// Declared first, so the browser closes before the server stops.
afterAll(async () => {
  await closeBrowser();
});
const { server } = useServer({ AUDIT_TOKEN: "openapi-test-token-0123456789" });
let document: {
  info: { version: string; license: { name: string; identifier: string } };
  tags: { name: string; description: string }[];
  servers: { url: string }[];
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas?: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

beforeAll(async () => {
  document = (await (await fetch(`${server.url}/openapi/json`)).json()) as typeof document;
});

describe("the OpenAPI document", () => {
  test("lints clean with Redocly's recommended rules", async () => {
    const dir = mkdtempSync(join(tmpdir(), "openapi-lint-"));
    try {
      const file = join(dir, "openapi.json");
      writeFileSync(file, JSON.stringify(document));
      const { code, stdout, stderr } = await runCommand(
        [
          join(root, "node_modules", ".bin", "redocly"),
          "lint",
          "--config",
          join(root, "redocly.yaml"),
          file,
        ],
        {
          cwd: root,
          env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        },
      );
      const report = stdout + stderr;
      expect({ code, report }).toEqual({
        code: 0,
        report: expect.stringContaining("Your API description is valid"),
      });
      expect(report).not.toMatch(/You have \d+ warning/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("public operations need no credentials; audit, /me and the session routes take the bearer scheme", () => {
    const sessionRoutes = [
      "/v1/auth/me",
      "/v1/auth/logout",
      "/v1/auth/sessions",
      "/v1/auth/sessions/{id}",
    ];
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(sessionRoutes));
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const bearer = path.startsWith("/v1/audit/") || sessionRoutes.includes(path);
        expect({ path, method, security: operation.security }).toEqual({
          path,
          method,
          security: bearer ? [{ bearer: [] }] : [],
        });
      }
    }
  });

  test("every body-taking operation documents 413, every response X-Request-Id, and no error example is stale", () => {
    const trigger = document.paths[TRIGGER]?.post as {
      responses: Record<string, { headers?: Record<string, unknown>; content?: unknown }>;
    };
    expect(Object.keys(trigger.responses).sort()).toEqual([
      "200",
      "400",
      "404",
      "413",
      "429",
      "500",
    ]);
    for (const item of Object.values(document.paths)) {
      for (const operation of Object.values(item) as {
        requestBody?: unknown;
        responses: Record<string, { headers?: Record<string, unknown> }>;
      }[]) {
        if (operation.requestBody !== undefined) expect(operation.responses["413"]).toBeDefined();
        for (const response of Object.values(operation.responses)) {
          expect(response.headers?.["X-Request-Id"]).toBeDefined();
        }
      }
    }
    // "invalid credentials" belongs to login's 401 only, never to the shared error schema.
    const text = JSON.stringify(document);
    expect(text.split('"invalid credentials"').length - 1).toBe(1);
    expect(document.servers).toEqual([{ url: "/", description: "This server" }] as never);
  });

  test("carries the package's version and license, and lists Auth first and Operations last", () => {
    expect(document.info.version).toBe(version);
    expect(document.info.license).toEqual({ name: "Apache 2.0", identifier: "Apache-2.0" });
    const tags = document.tags.map((t) => t.name);
    expect(tags[0]).toBe("Auth");
    expect(tags.at(-1)).toBe("Operations");
    for (const item of Object.values(document.paths)) {
      for (const operation of Object.values(item) as { tags?: string[] }[]) {
        for (const tag of operation.tags ?? []) expect(tags).toContain(tag);
      }
    }
  });
});

/** The directives of a Content-Security-Policy header, by name. */
function directives(policy: string | null): Record<string, string[]> {
  return Object.fromEntries(
    (policy ?? "")
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...values]) => [name, values]),
  );
}

const cspViolations = (errors: string[]) =>
  errors.filter((e) => /Content Security Policy/i.test(e));

describe("request ids, as documented and as made", () => {
  test("the answer's X-Request-Id is always the service's; the caller's is documented as a label", async () => {
    const health = document.paths["/v1/health"]?.get as {
      parameters: { name: string; description: string }[];
      responses: Record<string, { headers: Record<string, { description: string }> }>;
    };
    const header = health.responses["200"]?.headers["X-Request-Id"]?.description ?? "";
    expect(header).toContain("always generated by the service");
    expect(header).not.toContain("caller");
    const parameter = health.parameters.find((p) => p.name === "X-Request-Id");
    expect(parameter?.description).toContain("clientRequestId");

    const res = await fetch(`${server.url}/v1/health`, { headers: { "x-request-id": "mine-1" } });
    await res.arrayBuffer();
    const id = res.headers.get("x-request-id") ?? "";
    expect(id).not.toBe("mine-1");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe("the /openapi page's headers", () => {
  test("a policy with scripts from the origin only, inline styles by a fresh nonce, never framed", async () => {
    const first = await fetch(`${server.url}/openapi`);
    const second = await fetch(`${server.url}/openapi`);
    expect(first.headers.get("x-frame-options")).toBe("DENY");
    expect(first.headers.get("x-content-type-options")).toBe("nosniff");
    const policy = directives(first.headers.get("content-security-policy"));
    expect(policy["frame-ancestors"]).toEqual(["'none'"]);
    expect(policy["default-src"]).toEqual(["'none'"]);
    expect(policy["script-src"]).toEqual(["'self'"]);
    expect(policy["base-uri"]).toEqual(["'none'"]);
    const nonce = policy["style-src-elem"]?.find((v) => v.startsWith("'nonce-"));
    expect(policy["style-src-elem"]).toEqual(["'self'", nonce ?? "a nonce"]);
    expect(JSON.stringify(policy)).not.toContain("unsafe-eval");
    // The nonce is the page's own and changes with every answer.
    const html = await first.text();
    expect(html).toContain(`nonce="${nonce?.slice(7, -1)}"`);
    expect(directives(second.headers.get("content-security-policy"))["style-src-elem"]).not.toEqual(
      policy["style-src-elem"],
    );
    // No inline script with code: the page's only inline script element carries data, not code.
    for (const [, body] of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
      expect(body).toBe("");
    }
    for (const path of ["/openapi/scalar.js", "/openapi/style-nonce.js"]) {
      const res = await fetch(`${server.url}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(res.headers.get("content-type")).toStartWith("text/javascript");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      await res.arrayBuffer();
    }
  });
});

describe("the /openapi page", () => {
  test.skipIf(!browserInstalled)(
    "renders offline from the service's own origin with the trigger's operation and its responses (needs chromium at CHROMIUM_PATH)",
    async () => {
      const session = await openPage(server.url);
      try {
        const { page } = session;
        await page.goto(`${server.url}/openapi`);
        // The viewer's sidebar lists the operations by tag, the first group (Auth) open.
        await page
          .getByRole("button", { name: /Trigger Password Reset/ })
          .first()
          .click({ timeout: 30_000 });
        await page.getByText("Request body over 16 KiB").first().waitFor({ timeout: 30_000 });
        // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
        const text = await page.locator("body").innerText();
        const responses = text.slice(text.indexOf("Responses"));
        for (const [status, description] of [
          ["200", "Password reset email sent successfully"],
          ["400", "Missing email"],
          ["404", "User not found"],
          ["413", "Request body over 16 KiB"],
          ["429", "Too many requests"],
          ["500", ""],
        ]) {
          expect(responses).toContain(`${status}\n${description}`);
        }
        // "Try it" and the examples target the server that served the page.
        expect(text).toContain(`curl ${server.url}${TRIGGER}`);
        expect(session.blocked).toEqual([]);
        expect(cspViolations(session.errors)).toEqual([]);
      } finally {
        await session.close();
      }
    },
  );

  test.skipIf(!browserInstalled)(
    "the viewer's client and dark mode work under the policy; markup-injected styles are refused (needs chromium at CHROMIUM_PATH)",
    async () => {
      const session = await openPage(server.url);
      try {
        const { page } = session;
        await page.goto(`${server.url}/openapi`);
        await page
          .getByRole("button", { name: /Trigger Password Reset/ })
          .first()
          .waitFor({ timeout: 30_000 });
        // The viewer's own sheet is applied: the styled sidebar, not the browser's defaults.
        // (Expressions as strings: this file's `document` is the OpenAPI document.)
        const styled = await page.evaluate(
          `[...document.querySelectorAll("style")].some((e) => e.sheet !== null)`,
        );
        expect(styled).toBe(true);
        await page
          .getByRole("button", { name: /dark mode|light mode/i })
          .first()
          .click();
        // The request client builds its editors' styles at run time, each a <style> of its own.
        await page
          .getByRole("button", { name: /^Operations/ })
          .first()
          .click();
        await page
          .getByRole("button", { name: /Test Request \(get \/v1\/health\)/i })
          .first()
          .click();
        await page.getByRole("button", { name: /^Send/i }).first().waitFor({ timeout: 30_000 });
        await page.getByRole("button", { name: /^Send/i }).first().click();
        await page.getByText("200 OK").first().waitFor({ timeout: 30_000 });
        expect(session.blocked).toEqual([]);
        expect(cspViolations(session.errors)).toEqual([]);

        // A <style> that arrives as markup has no nonce: the browser refuses it.
        const hidden = await page.evaluate(`(() => {
          document.body.insertAdjacentHTML("beforeend", "<style>body { visibility: hidden }</style>");
          return getComputedStyle(document.body).visibility;
        })()`);
        expect(hidden).toBe("visible");
        await waitFor(() => cspViolations(session.errors).length > 0, {
          what: "the refused style reported",
        });
      } finally {
        await session.close();
      }
    },
  );

  test.skipIf(!browserInstalled)(
    "shows the version and license, Auth first, and no button that needs Scalar's hosted services (needs chromium at CHROMIUM_PATH)",
    async () => {
      const session = await openPage(server.url);
      try {
        const { page } = session;
        await page.goto(`${server.url}/openapi`);
        const groups = page.getByRole("button", { name: /(Open|Close) Group/ });
        await groups.first().waitFor({ timeout: 30_000 });
        // The sidebar's footer and the introduction are drawn with the buttons in question.
        await page.getByText("Powered by Scalar").first().waitFor({ timeout: 30_000 });
        await page.getByText("Download OpenAPI Document").first().waitFor({ timeout: 30_000 });
        const shown = (await groups.allInnerTexts()).map((t) => t.split("\n")[0]?.trim());
        expect(shown).toEqual(document.tags.map((t) => t.name));

        // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
        const text = await page.locator("body").innerText();
        expect(text).toContain(`v${version}`);
        expect(text).toContain("Apache 2.0");
        expect(text).not.toContain("Proprietary");
        const controls = (
          await page.locator("button, a, [role=button], [role=menuitem]").allInnerTexts()
        ).map((t) => t.trim());
        for (const hosted of [
          "Ask AI",
          "Generate MCP",
          "Deploy",
          "Share",
          "Configure",
          "Developer Tools",
        ]) {
          expect({ hosted, shown: controls.filter((c) => c.includes(hosted)) }).toEqual({
            hosted,
            shown: [],
          });
        }
        expect(session.blocked).toEqual([]);
        expect(session.errors).toEqual([]);
      } finally {
        await session.close();
      }
    },
  );
});
