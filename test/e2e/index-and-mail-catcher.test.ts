/**
 * GET / (the service's index) and the mail catcher (README: Try it, Mail catcher), against the
 * server as a process: in development with the console mailer the catcher keeps what was
 * "sent" and shows it, in JSON and in a real chromium page; with Mailgun, and in production, it
 * does not exist; and it answers only clients on the server's own machine.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { networkInterfaces } from "node:os";
import packageJson from "../../package.json" with { type: "json" };
import { browserInstalled, closeBrowser, openPage, pageFileHeaders } from "../support/browser";
import {
  createDeployment,
  type Deployment,
  expectError,
  PASSWORD,
  register,
  SHOWN_CODE,
  trigger,
  uniqueEmail,
} from "../support/e2e";
import { readAnswer } from "../support/http";
import { postJson, type ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

const AUDIT_TOKEN = `catcher-${randomBytes(12).toString("hex")}`;
// An empty setting counts as unset: these servers run the console mailer, as `npm start` does.
const CONSOLE_MAILER = { MAILGUN_API_KEY: "", MAILGUN_DOMAIN: "" };
const CATCHER_PATHS = [
  "/dev/mail",
  "/dev/mail/mail.js",
  "/dev/mail/mail.css",
  "/dev/mail/messages",
];

interface Caught {
  id: number;
  sent_at: string;
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  tags: string[];
  provider_message_id: string;
}

let development: Deployment;
let withMailgun: Deployment;
let production: Deployment;
let dev: ServerProcess;
let mailgunDev: ServerProcess;
let prod: ServerProcess;

beforeAll(async () => {
  [development, withMailgun, production] = await Promise.all([
    createDeployment({ ...CONSOLE_MAILER, AUDIT_TOKEN }),
    createDeployment(),
    createDeployment({ NODE_ENV: "production" }),
  ]);
  [dev, mailgunDev, prod] = await Promise.all([
    development.start(),
    withMailgun.start(),
    production.start(),
  ]);
});

afterAll(async () => {
  await closeBrowser().catch(() => {});
  await Promise.allSettled([development?.close(), withMailgun?.close(), production?.close()]);
});

const get = async (server: ServerProcess, path: string) =>
  readAnswer(await fetch(`${server.url}${path}`));

const caught = async (): Promise<Caught[]> => {
  const answer = await get(dev, "/dev/mail/messages");
  expect(answer.status).toBe(200);
  return (answer.json as { messages: Caught[] }).messages;
};

/** The codes the console mailer printed on the server's stdout, oldest first. */
const printedCodes = (server: ServerProcess) =>
  server.output().match(/^[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}$/gm) ?? [];

const LINKS = {
  openapi: "/openapi",
  openapi_json: "/openapi/json",
  audit: "/audit",
  health: "/v1/health",
  health_live: "/v1/health/live",
  health_ready: "/v1/health/ready",
};

describe("GET /", () => {
  test("in development with the console mailer: name, version and links, the mail catcher's too", async () => {
    const answer = await get(dev, "/");
    expect({ status: answer.status, body: answer.json }).toEqual({
      status: 200,
      body: {
        name: "reset-ledger",
        version: packageJson.version,
        links: { ...LINKS, mail: "/dev/mail", mail_messages: "/dev/mail/messages" },
      },
    });
    expect(answer.headers.get("content-type") ?? "").toStartWith("application/json");
  });

  test("with Mailgun, and in production: no mail catcher to link", async () => {
    for (const server of [mailgunDev, prod]) {
      const answer = await get(server, "/");
      expect({ status: answer.status, body: answer.json }).toEqual({
        status: 200,
        body: { name: "reset-ledger", version: packageJson.version, links: LINKS },
      });
    }
  });

  test("each link it gives leads somewhere", async () => {
    const links = ((await get(dev, "/")).json as { links: Record<string, string> }).links;
    // The liveness and readiness routes are the operations module's, tested with it.
    const served = Object.values(links).filter((p) => !p.startsWith("/v1/health/"));
    for (const path of served) {
      const answer = await get(dev, path);
      expect({ path, status: answer.status }).toEqual({ path, status: 200 });
    }
  });

  test("is documented in /openapi/json", async () => {
    const document = (await get(dev, "/openapi/json")).json as {
      paths: Record<string, { get?: { operationId?: string } }>;
    };
    expect(document.paths["/"]?.get?.operationId).toBe("index");
    expect(Object.keys(document.paths).filter((p) => p.startsWith("/dev/"))).toEqual([]);
  });
});

describe("GET /dev/mail/messages", () => {
  test("every email sent, newest first, as its recipient gets it, under the id its Sent event names", async () => {
    const email = uniqueEmail("catcher");
    await register(dev.url, email);
    expect((await trigger(dev.url, email)).status).toBe(200);
    const code = printedCodes(dev).at(-1) as string;
    expect(code).toMatch(SHOWN_CODE);
    const reset = await postJson(`${dev.url}/v1/auth/password-reset/reset`, {
      code,
      new_password: `N3w-${PASSWORD}`,
    });
    expect(reset.status).toBe(200);
    const notice = await waitFor(
      async () =>
        (await caught()).find((m) => m.to === email && m.tags.includes("password-changed")),
      { what: "the password-changed notice in the catcher" },
    );

    const [newest, previous] = (await caught()).filter((m) => m.to === email);
    expect(newest).toEqual(notice);
    expect(previous).toMatchObject({
      to: email,
      from: "no-reply@localhost",
      subject: "Reset your password",
      tags: ["password-reset"],
    });
    expect(previous?.text.split("\n")).toContain(code);
    expect(previous?.html).toContain(code);
    expect(previous?.html).toStartWith("<!doctype html>");
    expect(newest?.subject).toBe("Your password was changed");
    expect((newest?.id ?? 0) > (previous?.id ?? 0)).toBe(true);
    expect(Date.parse(newest?.sent_at ?? "")).toBeGreaterThanOrEqual(
      Date.parse(previous?.sent_at ?? ""),
    );

    // The catcher's provider id is the one the log recorded for that email.
    const events = await waitFor(
      async () => {
        const res = await fetch(
          `${dev.url}/v1/audit/events?email=${encodeURIComponent(email)}&type=PasswordResetEmailSent`,
          { headers: { authorization: `Bearer ${AUDIT_TOKEN}` } },
        );
        const { events } = (await res.json()) as { events: { data: Record<string, unknown> }[] };
        return events.length === 1 && events;
      },
      { what: "the reset email's Sent event" },
    );
    expect(events[0]?.data.providerMessageId).toBe(previous?.provider_message_id as string);
  });

  test("the page and its JSON: the page's own origin only, never framed, never stored", async () => {
    for (const path of CATCHER_PATHS) {
      const { policy, ...headers } = await pageFileHeaders(`${dev.url}${path}`);
      expect({ path, ...headers }).toEqual({
        path,
        status: 200,
        frameOptions: "DENY",
        sniffing: "nosniff",
        cache: "no-store",
      });
      expect(policy).toContain("default-src 'none'");
      expect(policy).toContain("script-src 'self';");
      expect(policy).toContain("style-src 'self';");
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy.replace("style-src-attr 'unsafe-inline'", "")).not.toContain("unsafe-");
    }
  });
});

/** This machine's first address that is not loopback, if it has one. */
const outsideAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && !a.internal && a.family === "IPv4")?.address;

describe.skipIf(outsideAddress === undefined)("the catcher from another machine's address", () => {
  test("is 404 like any unknown path, while the rest of the service answers", async () => {
    const port = new URL(dev.url).port;
    for (const path of CATCHER_PATHS) {
      const answer = readAnswer(await fetch(`http://${outsideAddress}:${port}${path}`));
      expectError(await answer, 404, "not found");
    }
    const index = await fetch(`http://${outsideAddress}:${port}/`);
    expect(index.status).toBe(200);
    expect(((await index.json()) as { name: string }).name).toBe("reset-ledger");
  });
});

describe("without the console mailer there is no catcher", () => {
  test("with Mailgun (development) and in production every catcher path is 404", async () => {
    for (const server of [mailgunDev, prod]) {
      for (const path of CATCHER_PATHS) expectError(await get(server, path), 404, "not found");
    }
  });

  test("and the emails went to Mailgun", async () => {
    const email = uniqueEmail("mailgun");
    await register(mailgunDev.url, email);
    expect((await trigger(mailgunDev.url, email)).status).toBe(200);
    expect(withMailgun.fake.messages.length).toBe(1);
    expectError(await get(mailgunDev, "/dev/mail/messages"), 404, "not found");
  });
});

describe.skipIf(!browserInstalled)("GET /dev/mail in a browser", () => {
  test("open, trigger: the email appears with its code, in the text and in the sandboxed HTML", async () => {
    const email = uniqueEmail("page");
    await register(dev.url, email);
    const session = await openPage(dev.url);
    try {
      const { page } = session;
      await page.goto(`${dev.url}/dev/mail`);
      await page.locator("#status:not(:empty)").waitFor();
      await waitFor(
        async () => !(await page.locator("#status").textContent())?.startsWith("Loading"),
        {
          what: "the first list",
        },
      );

      expect((await trigger(dev.url, email)).status).toBe(200);
      const code = printedCodes(dev).at(-1) as string;
      expect(code).toMatch(SHOWN_CODE);

      // The page follows new emails by itself: no reload.
      const article = page.locator("article").first();
      await article.getByText(email).waitFor();
      expect(await article.locator("h2").textContent()).toBe("Reset your password");
      expect((await article.locator("pre").textContent())?.split("\n")).toContain(code);

      const frame = article.locator("iframe");
      expect(await frame.getAttribute("sandbox")).toBe("");
      expect(await frame.getAttribute("src")).toBeNull();
      const body = frame.contentFrame().locator("body");
      await body.getByText(code).waitFor();
      // The email's own style attributes apply inside the frame.
      expect(
        await body.evaluate((b) => b.ownerDocument.defaultView?.getComputedStyle(b).fontFamily),
      ).toContain("Arial");
      // The page's document holds no markup of the email: only the frame does.
      expect(await page.locator("article p").count()).toBe(0);
      expect(await page.title()).toBe("Mail catcher · reset-ledger");

      expect(session.blocked).toEqual([]);
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });
});
