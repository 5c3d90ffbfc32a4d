/**
 * The auditors' page (GET /audit) in a real headless chromium against the server as a process:
 * one email goes through trigger → delivered (a signed webhook from the fake Mailgun) → reset;
 * the page, given the token once, shows each step on the timeline with its time and draws the
 * buckets of /v1/audit/stats; nothing leaves the service's origin and the console stays clean.
 * The screenshot the README shows is taken here (docs/audit-page.png, with UPDATE_SCREENSHOTS=1).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { browserInstalled, closeBrowser, openPage } from "../support/browser";
import {
  codeOf,
  createDeployment,
  type Deployment,
  messagesTo,
  PASSWORD,
  register,
  trigger,
} from "../support/e2e";
import { reportAccepted, urlPoster } from "../support/fake-mailgun-webhooks";
import { postJson, type ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

const TOKEN = `audit-page-${randomBytes(12).toString("hex")}`;
const SIGNING_KEY = `whk-${randomBytes(16).toString("hex")}`;
const EMAIL = "page.alice@example.com";
const DISPATCH_TIMEOUT_MS = 1_500;
// The README's copy is rewritten only when asked, so that a test run leaves the tree clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS
  ? join(import.meta.dir, "..", "..", "docs", "audit-page.png")
  : join(tmpdir(), `audit-page-${process.pid}.png`);

interface Shown {
  position: number;
  type: string;
  recorded_at: string;
  data: Record<string, unknown>;
}

let deployment: Deployment;
let server: ServerProcess;

const auth = { authorization: `Bearer ${TOKEN}` };
const get = async (path: string) => {
  const res = await fetch(`${server.url}${path}`, { headers: auth });
  expect({ path, status: res.status }).toEqual({ path, status: 200 });
  return res.json();
};
const eventsOf = async (): Promise<Shown[]> =>
  (
    (await get(`/v1/audit/events?email=${encodeURIComponent(EMAIL)}&limit=1000`)) as {
      events: Shown[];
    }
  ).events;

beforeAll(async () => {
  deployment = await createDeployment({
    AUDIT_TOKEN: TOKEN,
    MAILGUN_WEBHOOK_SIGNING_KEY: SIGNING_KEY,
    RESET_DISPATCH_TIMEOUT_MS: String(DISPATCH_TIMEOUT_MS),
  });
  server = await deployment.start();
  reportAccepted(deployment.fake, {
    post: urlPoster(server.url),
    signingKey: SIGNING_KEY,
    ready: (message) =>
      waitFor(
        async () =>
          (await eventsOf()).some(
            (e) => e.type.endsWith("Sent") && e.data.providerMessageId === message.id,
          ),
        { what: `the Sent event of ${message.id}` },
      ),
  });

  await register(server.url, EMAIL);
  expect((await trigger(server.url, EMAIL)).status).toBe(200);
  // The delivery report comes after the trigger's answer, as Mailgun's does.
  await waitFor(
    async () => (await eventsOf()).some((e) => e.type === "PasswordResetEmailDelivered"),
    {
      what: "the delivered report in the log",
    },
  );
  const [message] = messagesTo(deployment.fake, EMAIL);
  if (!message) throw new Error("no reset email");
  const reset = await postJson(`${server.url}/v1/auth/password-reset/reset`, {
    code: codeOf(message),
    new_password: `N3w-${PASSWORD}`,
  });
  expect(reset.status).toBe(200);
  await waitFor(async () => (await eventsOf()).some((e) => e.type === "PasswordResetCompleted"), {
    what: "the completed reset in the log",
  });
});

afterAll(async () => {
  await closeBrowser().catch(() => {});
  await deployment?.close();
});

/** Opens the page, gives it the token, searches and waits for the first request shown. */
async function searchAudit(page: Page, value: string, by?: "user_id"): Promise<void> {
  await page.goto(`${server.url}/audit`);
  await page.getByLabel("Audit token").fill(TOKEN);
  await page.keyboard.press("Enter");
  if (by) await page.getByLabel("Search by").selectOption(by);
  await page.getByLabel(/Email or user id/).fill(value);
  await page.keyboard.press("Enter");
  await page.locator("#results:not([hidden]) .request").first().waitFor();
}

describe("GET /audit's headers", () => {
  test("every file of the page: a policy of its own origin only, never framed, no sniffing", async () => {
    for (const path of ["/audit", "/audit/audit.js", "/audit/audit.css"]) {
      const res = await fetch(`${server.url}${path}`);
      await res.arrayBuffer();
      const policy = res.headers.get("content-security-policy") ?? "";
      expect({
        path,
        status: res.status,
        frameOptions: res.headers.get("x-frame-options"),
        sniffing: res.headers.get("x-content-type-options"),
      }).toEqual({ path, status: 200, frameOptions: "DENY", sniffing: "nosniff" });
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).toContain("script-src 'self';");
      expect(policy).not.toContain("unsafe-inline");
    }
  });
});

describe.skipIf(!browserInstalled)("GET /audit in a browser", () => {
  test("token once, search by email: the timeline shows trigger → delivered → reset with times, the chart the stats' buckets", async () => {
    const session = await openPage(server.url);
    try {
      const { page } = session;
      await searchAudit(page, EMAIL);

      const events = await eventsOf();
      const timeOf = (type: string) => events.find((e) => e.type === type)?.recorded_at;
      const steps = await page.locator("article[data-request] li").evaluateAll((items) =>
        items.map((li) => ({
          step: li.getAttribute("data-step"),
          time: li.querySelector("time")?.getAttribute("datetime"),
          shown: li.querySelector("time")?.textContent,
        })),
      );
      for (const [step, type] of [
        ["Requested", "PasswordResetRequested"],
        ["Email sent", "PasswordResetEmailSent"],
        ["Delivered", "PasswordResetEmailDelivered"],
        ["Completed", "PasswordResetCompleted"],
      ] as const) {
        const time = timeOf(type) as string;
        expect(steps).toContainEqual({
          step,
          time,
          shown: `${time.slice(0, 10)} ${time.slice(11, 19)} UTC`,
        });
      }
      expect(steps.map((s) => s.step)).toEqual([
        "Requested",
        "Email sent",
        "Delivered",
        "Completed",
      ]);

      // The chart: one group per bucket of /v1/audit/stats for the same query, bars as counted.
      const drawn = await page.locator("#chart g.bucket").evaluateAll((groups) =>
        groups.map((g) => ({
          start: g.getAttribute("data-start") as string,
          counts: Object.fromEntries(
            [...g.querySelectorAll("rect")].map((r) => [
              r.getAttribute("data-series"),
              Number(r.getAttribute("data-count")),
            ]),
          ),
        })),
      );
      const first = drawn[0]?.start as string;
      const end = new Date(Date.parse(drawn.at(-1)?.start as string) + 3_600_000).toISOString();
      const stats = (await get(
        `/v1/audit/stats?email=${encodeURIComponent(EMAIL)}&from=${first}&to=${end}&bucket=hour`,
      )) as { buckets: { start: string; counts: Record<string, number> }[] };
      expect(drawn).toEqual(
        stats.buckets.map((b) => ({
          start: b.start,
          counts: {
            requests: b.counts.PasswordResetRequested ?? 0,
            refusals: b.counts.PasswordResetRejected ?? 0,
            "failed-codes": b.counts.PasswordResetCodeRejected ?? 0,
            completions: b.counts.PasswordResetCompleted ?? 0,
          },
        })),
      );
      expect(drawn.reduce((n, b) => n + (b.counts.requests ?? 0), 0)).toBe(1);
      expect(drawn.reduce((n, b) => n + (b.counts.completions ?? 0), 0)).toBe(1);

      // The token is the tab's: in sessionStorage, never in a URL or localStorage.
      const stored = await page.evaluate(() => ({
        session: Object.values(sessionStorage),
        local: localStorage.length,
      }));
      expect(stored).toEqual({ session: [TOKEN], local: 0 });
      expect(await page.locator("#download-csv").getAttribute("href")).not.toContain(TOKEN);

      const png = await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(png.subarray(1, 4).toString()).toBe("PNG");
      expect(session.blocked).toEqual([]);
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("an erased person shows as [erased]; searching by user id finds the same history", async () => {
    const gone = "page.erased@example.com";
    const { id } = await register(server.url, gone);
    expect((await trigger(server.url, gone)).status).toBe(200);
    const erased = await fetch(`${server.url}/v1/audit/users/${id}/personal-data`, {
      method: "DELETE",
      headers: auth,
    });
    expect(erased.status).toBe(204);
    // The events API shows a commit once every older transaction has ended.
    await waitFor(
      async () =>
        ((await get(`/v1/audit/events?user_id=${id}`)) as { events: Shown[] }).events.some(
          (e) => e.type === "PersonalDataErased",
        ),
      { what: "the erasure in the audit API" },
    );

    const session = await openPage(server.url);
    try {
      const { page } = session;
      await searchAudit(page, id, "user_id");
      const requested = await page
        .locator('article[data-request] li[data-step="Requested"]')
        .textContent();
      expect(requested).toContain("from [erased], [erased]");
      const account = await page.locator("#timeline").textContent();
      expect(account).toContain("Registered [erased]");
      expect(account).toContain("Personal data erased");
      expect(account).not.toContain(gone);
      expect(session.blocked).toEqual([]);
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("sessions in the account's timeline: logged in, logged out, ended by a reset, with the client", async () => {
    const person = "page.sessions@example.com";
    const { id } = await register(server.url, person);
    const loginFrom = (userAgent: string) =>
      fetch(`${server.url}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": userAgent },
        body: JSON.stringify({ email: person, password: PASSWORD }),
      }).then(async (res) => ((await res.json()) as { token: string }).token);
    const leaving = await loginFrom("PageTest/1.0 (leaving)");
    await loginFrom("PageTest/1.0 (staying)");
    const loggedOut = await fetch(`${server.url}/v1/auth/logout`, {
      method: "POST",
      headers: { authorization: `Bearer ${leaving}`, "user-agent": "PageTest/1.0 (logout)" },
    });
    expect(loggedOut.status).toBe(204);
    expect((await trigger(server.url, person)).status).toBe(200);
    const message = messagesTo(deployment.fake, person).at(-1);
    if (!message) throw new Error("no reset email");
    const reset = await postJson(`${server.url}/v1/auth/password-reset/reset`, {
      code: codeOf(message),
      new_password: `N3w-${PASSWORD}`,
    });
    expect(reset.status).toBe(200);
    await waitFor(
      async () =>
        ((await get(`/v1/audit/events?user_id=${id}&type=SessionEnded`)) as { events: Shown[] })
          .events.length === 2,
      { what: "both session ends in the audit API" },
    );

    const session = await openPage(server.url);
    try {
      const { page } = session;
      await searchAudit(page, id, "user_id");
      const ended = await page.locator('li[data-step="Session ended"]').allTextContents();
      expect(ended).toHaveLength(2);
      expect(ended[0]).toContain("logged out from ");
      expect(ended[0]).toContain("PageTest/1.0 (logout)");
      expect(ended[1]).toContain("by the password reset");
      const logins = await page.locator('li[data-step="Logged in"]').allTextContents();
      expect(logins.join("\n")).toContain("PageTest/1.0 (leaving)");
      expect(session.blocked).toEqual([]);
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("an email whose provider never answered in time shows as may have been sent, not as not sent", async () => {
    const late = "page.late@example.com";
    await register(server.url, late);
    const { fake } = deployment;
    // The provider takes the message (it may reach the user) but answers after the deadline.
    const report = fake.onAccepted;
    fake.onAccepted = undefined;
    await fake.setMode({ acceptThenDelayMs: DISPATCH_TIMEOUT_MS * 3 });
    try {
      expect((await trigger(server.url, late)).status).toBe(500);
    } finally {
      await fake.setMode("ok");
      fake.onAccepted = report;
    }
    await waitFor(
      async () =>
        (
          (await get(`/v1/audit/events?email=${encodeURIComponent(late)}`)) as { events: Shown[] }
        ).events.some((e) => e.type === "PasswordResetEmailFailed" && e.data.reason === "unknown"),
      { what: "the unknown outcome in the audit API" },
    );

    const session = await openPage(server.url);
    try {
      const { page } = session;
      await searchAudit(page, late);
      const timeline = await page.locator("article[data-request]").first().textContent();
      expect(timeline).toContain("Email may have been sent (the provider's answer never came)");
      expect(timeline).not.toContain("Email not sent");
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("keyboard only: tab from the token field through the search form, labelled controls", async () => {
    const session = await openPage(server.url);
    try {
      const { page } = session;
      await page.goto(`${server.url}/audit`);
      // The token field has the focus on arrival.
      await page.keyboard.type(TOKEN);
      await page.keyboard.press("Enter");
      // A string: the test's own types know no DOM.
      const focused = async () =>
        String(
          await page.evaluate(`(() => {
            const active = document.activeElement;
            const label = active && active.id ? document.querySelector('label[for="' + active.id + '"]') : null;
            return ((label && label.textContent) || (active && active.textContent) || "").trim();
          })()`),
        );
      // Signed in, the focus is on the search field; the field before it is what it searches by.
      expect(await focused()).toStartWith("Email or user id");
      await page.keyboard.press("Shift+Tab");
      expect(await focused()).toBe("Search by");
      await page.keyboard.press("Tab");
      const order: string[] = [];
      for (let i = 0; i < 16 && order.at(-1) !== "Search"; i++) {
        await page.keyboard.press("Tab");
        const name = await focused();
        if (order.at(-1) !== name) order.push(name);
      }
      // Date fields take one Tab per part; each control comes once, in reading order.
      expect(order).toEqual(["From (UTC day)", "To (UTC day, included)", "Bucket", "Search"]);
      await page.keyboard.press("Enter");
      await page.locator("#results:not([hidden])").waitFor();
      expect(await focused()).toBe("Results for all accounts");
      expect(session.blocked).toEqual([]);
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });
});
