/**
 * The auditors' page (GET /audit) in a real headless chromium against the server as a process:
 * one email goes through trigger → delivered (a signed webhook from the fake Mailgun) → one
 * wrong code → reset; the page checks the token at once, shows each step on the timeline with
 * its time and in words, and draws the buckets of /v1/audit/stats over the last 24 hours by
 * default; nothing leaves the service's origin and the console stays clean. Without
 * AUDIT_TOKEN it names that setting instead of asking for a token. The screenshot the README
 * shows is taken here (docs/audit-page.png, with UPDATE_SCREENSHOTS=1).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Page } from "playwright-core";
import type {
  CodeRejectionReason,
  PasswordResetEvent,
  RateLimitName,
  ResetRejectionReason,
} from "../../events/password-reset";
import type { SessionEndReason, UserEvent } from "../../events/user";
import { limits } from "../../src/rate-limits/gcra";
import { otherCode } from "../support/audit";
import {
  type BrowserSession,
  browserInstalled,
  closeBrowser,
  openPage,
  pageFileHeaders,
} from "../support/browser";
import {
  codeOf,
  createDeployment,
  freshIp,
  messagesTo,
  PASSWORD,
  register,
  trigger,
  uniqueEmail,
  useServer,
} from "../support/e2e";
import { reportAccepted, urlPoster } from "../support/fake-mailgun-webhooks";
import { postJson } from "../support/server";
import { waitFor } from "../support/wait";

const TOKEN = `audit-page-${randomBytes(12).toString("hex")}`;
/** Named tokens beside AUDIT_TOKEN: the page needs only `read`; erasures name their token. */
const READ_TOKEN = `audit-page-read-${randomBytes(12).toString("hex")}`;
const ERASE_TOKEN = `audit-page-erase-${randomBytes(12).toString("hex")}`;
const SIGNING_KEY = `whk-${randomBytes(16).toString("hex")}`;
const EMAIL = "page.alice@example.com";
const DISPATCH_TIMEOUT_MS = 1_500;
const HOUR_MS = 3_600_000;
// The README's copy is written only when asked; otherwise the picture stays in memory, so a
// test run leaves the tree and the temp directory as they were.
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS
  ? join(import.meta.dir, "..", "..", "docs", "audit-page.png")
  : undefined;

interface Shown {
  position: number;
  type: string;
  recorded_at: string;
  data: Record<string, unknown>;
}

// Declared first, so the browser closes before the server stops.
afterAll(async () => {
  await closeBrowser().catch(() => {});
});
const { deployment, server } = useServer({
  AUDIT_TOKEN: TOKEN,
  AUDIT_TOKENS: `auditors:read:${READ_TOKEN},privacy-officer:erase:${ERASE_TOKEN}`,
  MAILGUN_WEBHOOK_SIGNING_KEY: SIGNING_KEY,
  RESET_DISPATCH_TIMEOUT_MS: String(DISPATCH_TIMEOUT_MS),
  TRUST_PROXY: "1",
});

// Each browser or client claims its own address (TRUST_PROXY, freshIp), so wrong tokens and
// triggers spend only their own limits.
const from = (ip: string) => ({ "x-forwarded-for": ip });

/** A page whose requests all come from `ip`. */
async function openPageFrom(ip: string): Promise<BrowserSession> {
  const session = await openPage(server.url);
  await session.context.setExtraHTTPHeaders(from(ip));
  return session;
}

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
  const wrong = await postJson(`${server.url}/v1/auth/password-reset/reset`, {
    code: otherCode(codeOf(message)),
    new_password: `N3w-${PASSWORD}`,
    email: EMAIL,
  });
  expect(wrong.status).toBe(400);
  const reset = await postJson(`${server.url}/v1/auth/password-reset/reset`, {
    code: codeOf(message),
    new_password: `N3w-${PASSWORD}`,
  });
  expect(reset.status).toBe(200);
  await waitFor(async () => (await eventsOf()).some((e) => e.type === "PasswordResetCompleted"), {
    what: "the completed reset in the log",
  });
});

/** Opens the page, gives it the token, searches and waits for the first request shown. */
async function searchAudit(
  page: Page,
  value: string,
  by?: "user_id",
  token = TOKEN,
): Promise<void> {
  await page.goto(`${server.url}/audit`);
  await page.getByLabel("Audit token").fill(token);
  await page.keyboard.press("Enter");
  await page.locator("#search-form:not([hidden])").waitFor();
  if (by) await page.getByLabel("Search by").selectOption(by);
  await page.getByLabel(/Email or user id/).fill(value);
  await page.keyboard.press("Enter");
  await page.locator("#results:not([hidden]) .request").first().waitFor();
}

describe("GET /audit's headers", () => {
  test("every file of the page: a policy of its own origin only, never framed, no sniffing", async () => {
    for (const path of ["/audit", "/audit/audit.js", "/audit/audit.css"]) {
      const { status, frameOptions, sniffing, policy } = await pageFileHeaders(
        `${server.url}${path}`,
      );
      expect({ path, status, frameOptions, sniffing }).toEqual({
        path,
        status: 200,
        frameOptions: "DENY",
        sniffing: "nosniff",
      });
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).toContain("script-src 'self';");
      expect(policy).not.toContain("unsafe-inline");
    }
  });
});

describe.skipIf(!browserInstalled)("GET /audit in a browser", () => {
  test("token once, search by email: the timeline shows trigger → delivered → wrong code → reset with times, the chart the stats' buckets", async () => {
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
        "Failed code",
        "Completed",
      ]);
      expect(await page.locator('li[data-step="Failed code"]').textContent()).toContain(
        "Failed code: wrong code, wrong try 1 from this client",
      );

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
      expect(drawn.reduce((n, b) => n + (b.counts["failed-codes"] ?? 0), 0)).toBe(1);
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

  test("an erased person shows as [erased], the erasure with the name of the token that made it; searching by user id finds the same history", async () => {
    const gone = "page.erased@example.com";
    const { id } = await register(server.url, gone);
    expect((await trigger(server.url, gone)).status).toBe(200);
    const erased = await fetch(`${server.url}/v1/audit/users/${id}/personal-data`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ERASE_TOKEN}` },
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
      // A read token is all the page needs.
      await searchAudit(page, id, "user_id", READ_TOKEN);
      const requested = await page
        .locator('article[data-request] li[data-step="Requested"]')
        .textContent();
      expect(requested).toContain("from [erased], [erased]");
      const account = await page.locator("#timeline").textContent();
      expect(account).toContain("Registered [erased]");
      expect(account).toContain("Personal data erased by privacy-officer");
      expect(account).not.toContain(ERASE_TOKEN);
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
      // A string: the test's own types know no DOM.
      const focused = async () =>
        String(
          await page.evaluate(`(() => {
            const active = document.activeElement;
            const label = active && active.id ? document.querySelector('label[for="' + active.id + '"]') : null;
            return ((label && label.textContent) || (active && active.textContent) || "").trim();
          })()`),
        );
      // The token field has the focus once the page knows the API is on.
      await waitFor(async () => (await focused()) === "Audit token", { what: "the token field" });
      await page.keyboard.type(TOKEN);
      await page.keyboard.press("Enter");
      // Signed in, the focus is on the search field; the field before it is what it searches by.
      await waitFor(async () => (await focused()).startsWith("Email or user id"), {
        what: "the focus on the search field once the token is accepted",
      });
      await page.keyboard.press("Shift+Tab");
      expect(await focused()).toBe("Search by");
      await page.keyboard.press("Tab");
      const order: string[] = [];
      for (let i = 0; i < 16 && order.at(-1) !== "Search"; i++) {
        await page.keyboard.press("Tab");
        const name = await focused();
        if (order.at(-1) !== name) order.push(name);
      }
      // Each control comes once, in reading order; the days appear only for a range of one's own.
      expect(order).toEqual(["Range", "Bucket", "Search"]);
      await page.keyboard.press("Enter");
      await waitFor(async () => (await focused()) === "Results for all accounts", {
        what: "the focus on the results",
      });

      await page.getByLabel("Range").selectOption("custom");
      await page.getByLabel("Range").focus();
      const custom: string[] = [];
      for (let i = 0; i < 16 && custom.at(-1) !== "Search"; i++) {
        await page.keyboard.press("Tab");
        const name = await focused();
        if (custom.at(-1) !== name) custom.push(name);
      }
      // Date fields take one Tab per part.
      expect(custom).toEqual(["From (UTC day)", "To (UTC day, included)", "Bucket", "Search"]);
      expect(session.blocked).toEqual([]);
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("the default range is the last 24 hours by hour: a fresh reset's bars are plain to see", async () => {
    const session = await openPage(server.url);
    try {
      const { page } = session;
      const before = Date.now();
      await searchAudit(page, EMAIL);
      const after = Date.now();
      expect(await page.locator("#chart-title").textContent()).toBe(
        "Activity over the last 24 hours, by hour",
      );
      const starts = await page
        .locator("#chart g.bucket")
        .evaluateAll((groups) => groups.map((g) => g.getAttribute("data-start") as string));
      expect(starts).toHaveLength(24);
      starts.forEach((start, i) => {
        if (i > 0) expect(Date.parse(start) - Date.parse(starts[i - 1] as string)).toBe(HOUR_MS);
      });
      // The last bucket is the hour the search ran in.
      const last = Date.parse(starts.at(-1) as string);
      expect(last + HOUR_MS).toBeGreaterThan(before);
      expect(last).toBeLessThanOrEqual(after);
      for (const series of ["requests", "failed-codes", "completions"]) {
        const box = await page
          .locator(`#chart rect[data-series="${series}"][data-count="1"]`)
          .boundingBox();
        expect({ series, wide: (box?.width ?? 0) >= 6, tall: (box?.height ?? 0) >= 50 }).toEqual({
          series,
          wide: true,
          tall: true,
        });
      }
      const legend = await page.locator("#legend").textContent();
      expect(legend).toContain("Requests: 1");
      expect(legend).toContain("Completions: 1");
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("a refusal and a wrong code read as words in the timeline, never as identifiers", async () => {
    const person = uniqueEmail("page.words");
    await register(server.url, person);
    const client = from(freshIp());
    // The email's burst: three triggers a minute from one client, the fourth refused.
    const { burst } = limits.triggerPerEmail;
    for (let i = 0; i < burst; i++)
      expect((await trigger(server.url, person, client)).status).toBe(200);
    expect((await trigger(server.url, person, client)).status).toBe(429);
    const message = messagesTo(deployment.fake, person).at(-1);
    if (!message) throw new Error("no reset email");
    const wrong = await postJson(
      `${server.url}/v1/auth/password-reset/reset`,
      { code: otherCode(codeOf(message)), new_password: `N3w-${PASSWORD}`, email: person },
      client,
    );
    expect(wrong.status).toBe(400);
    const byEmail = `/v1/audit/events?email=${encodeURIComponent(person)}&limit=1000`;
    await waitFor(
      async () => {
        const { events } = (await get(byEmail)) as { events: Shown[] };
        return (
          events.some((e) => e.type === "PasswordResetRejected") &&
          events.some((e) => e.type === "PasswordResetCodeRejected")
        );
      },
      { what: "the refusal and the wrong code in the audit API" },
    );

    const session = await openPage(server.url);
    try {
      const { page } = session;
      await searchAudit(page, person);
      const timeline = (await page.locator("#timeline").textContent()) ?? "";
      expect(timeline).toContain("Refused: too many requests for this email");
      expect(timeline).toContain("Failed code: wrong code, wrong try 1 from this client");
      expect(timeline).toContain("Superseded by a newer request");
      for (const raw of ["email_burst", "rate_limited", "wrong_code", "×"])
        expect({ raw, shown: timeline.includes(raw) }).toEqual({ raw, shown: false });
      expect(timeline).not.toMatch(/\b[a-z]+_[a-z_]+\b/);
      const legend = await page.locator("#legend").textContent();
      expect(legend).toContain("Refusals: 1");
      expect(legend).toContain("Failed codes: 1");
      expect(session.blocked).toEqual([]);
      expect(session.errors).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("Use token checks the token at once: a wrong one is refused before any search, nothing left loading", async () => {
    const session = await openPageFrom(freshIp());
    try {
      const { page } = session;
      await page.goto(`${server.url}/audit`);
      await page.getByLabel("Audit token").fill(`not-the-token-${randomBytes(8).toString("hex")}`);
      await page.getByRole("button", { name: "Use token" }).click();
      const refusal = page.locator("#token-error");
      await refusal.waitFor({ state: "visible", timeout: 10_000 });
      expect(await refusal.textContent()).toBe(
        "The token was refused: it is not one of this server's audit tokens.",
      );
      expect(await page.locator("#search-form").isHidden()).toBe(true);
      expect(await page.locator("#results").isHidden()).toBe(true);
      expect(await page.locator("#status").textContent()).toBe("");
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      // The field keeps the focus for another try.
      expect(await page.evaluate("document.activeElement && document.activeElement.id")).toBe(
        "token",
      );

      await page.getByLabel("Audit token").fill(TOKEN);
      await page.keyboard.press("Enter");
      await page.locator("#search-form:not([hidden])").waitFor();
      expect(await refusal.isHidden()).toBe(true);
      expect(await page.locator("#status").textContent()).toBe(
        "Token accepted. Counts for all accounts over the last 24 hours.",
      );
      expect(await page.locator("#chart g.bucket").count()).toBe(24);

      // A search the API refuses says why in words, and ends its loading too.
      await page.getByLabel(/Email or user id/).fill("not-an-email");
      await page.keyboard.press("Enter");
      await waitFor(
        async () =>
          (await page.locator("#status").textContent()) === "That is not an email address.",
        { what: "the refused search's reason" },
      );
      expect(session.blocked).toEqual([]);
    } finally {
      await session.close();
    }
  });

  test("too many wrong tokens from one address: the page says at once when to try again", async () => {
    const ip = freshIp();
    for (let i = 0; i < limits.failedAuditAuthPerIp.max; i++) {
      const res = await fetch(`${server.url}/v1/audit/stats`, {
        headers: { authorization: `Bearer wrong-token-${i}-${"x".repeat(16)}`, ...from(ip) },
      });
      expect(res.status).toBe(401);
    }
    const session = await openPageFrom(ip);
    try {
      const { page } = session;
      await page.goto(`${server.url}/audit`);
      // Even the right token waits while the limit refuses.
      await page.getByLabel("Audit token").fill(TOKEN);
      await page.keyboard.press("Enter");
      const refusal = page.locator("#token-error");
      await refusal.waitFor({ state: "visible", timeout: 10_000 });
      const text = (await refusal.textContent()) ?? "";
      const wait = text.match(
        /^Too many attempts with a wrong token from this address: try again in (\d+) s/,
      );
      expect({ text, matched: wait !== null }).toEqual({ text, matched: true });
      const seconds = Number(wait?.[1]);
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThanOrEqual(limits.failedAuditAuthPerIp.windowMs / 1000);
      expect(await page.locator("#search-form").isHidden()).toBe(true);
      expect(await page.locator("#status").textContent()).toBe("");
    } finally {
      await session.close();
    }
  });

  test("without AUDIT_TOKEN the page names the setting that turns the API on and asks for no token", async () => {
    const off = await createDeployment();
    try {
      const plain = await off.start();
      const status = await fetch(`${plain.url}/audit/status`);
      expect({ status: status.status, body: await status.json() }).toEqual({
        status: 200,
        body: { enabled: false },
      });
      const session = await openPage(plain.url);
      try {
        const { page } = session;
        await page.goto(`${plain.url}/audit`);
        const disabled = page.locator("#disabled");
        await disabled.waitFor({ state: "visible", timeout: 10_000 });
        const text = (await disabled.textContent()) ?? "";
        expect(text).toContain("The audit API is off on this server");
        expect(text).toContain("AUDIT_TOKENS");
        expect(text).toContain("AUDIT_TOKEN)");
        expect(await page.locator("#token-form").isHidden()).toBe(true);
        expect(await page.locator("#search-form").isHidden()).toBe(true);
        expect(await page.locator("#status").textContent()).toBe("");
        expect(session.blocked).toEqual([]);
        expect(session.errors).toEqual([]);
      } finally {
        await session.close();
      }
    } finally {
      await off.close();
    }
  });
});

describe("GET /audit/status", () => {
  test("says the API is on, needs no token and spends no attempt of the wrong-token limit", async () => {
    const ip = freshIp();
    for (let i = 0; i < limits.failedAuditAuthPerIp.max + 2; i++) {
      const res = await fetch(`${server.url}/audit/status`, { headers: from(ip) });
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 200,
        body: { enabled: true },
      });
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
    const wrong = await fetch(`${server.url}/v1/audit/stats`, {
      headers: { authorization: "Bearer not-the-token-at-all", ...from(ip) },
    });
    expect(wrong.status).toBe(401);
  });
});

/** The page's words (src/audit/page/labels.js, a module the browser loads as is). */
interface PageWords {
  LIMITS: Record<string, string>;
  REFUSALS: Record<string, string>;
  CODE_REJECTIONS: Record<string, string>;
  SESSION_ENDS: Record<string, string>;
  PASSWORD_CHANGES: Record<string, string>;
  EMAIL_FAILURES: Record<string, string>;
  PROVIDER_REASONS: Record<string, string>;
  EVENT_TYPES: Record<string, string>;
  label(table: Record<string, string>, identifier: unknown): string;
  eventLabel(type: string): string;
}

/** Every name of a union, checked complete by the compiler: a new name fails typecheck here. */
const every = <T extends string>(names: Record<T, true>) => Object.keys(names) as T[];

describe("the page's words", () => {
  test("every identifier the log records has words; an unknown one still reads as words", async () => {
    const labels = join(import.meta.dir, "..", "..", "src", "audit", "page", "labels.js");
    const words = (await import(labels)) as PageWords;
    type EventType = PasswordResetEvent["type"] | UserEvent["type"];
    const tables: [string, Record<string, string>, string[]][] = [
      [
        "limits",
        words.LIMITS,
        every<RateLimitName>({ email_burst: true, email_hourly: true, ip_hourly: true }),
      ],
      [
        "refusals",
        words.REFUSALS,
        every<ResetRejectionReason>({ unknown_email: true, rate_limited: true }),
      ],
      [
        "code rejections",
        words.CODE_REJECTIONS,
        every<CodeRejectionReason>({
          unknown_code: true,
          wrong_code: true,
          expired: true,
          superseded: true,
          used: true,
          locked: true,
          undelivered: true,
        }),
      ],
      [
        "session ends",
        words.SESSION_ENDS,
        every<SessionEndReason>({
          logout: true,
          revoked: true,
          idle: true,
          expired: true,
          reset: true,
        }),
      ],
      ["password changes", words.PASSWORD_CHANGES, ["reset"]],
      [
        // src/mail (mailgun.ts, deliver.ts, batch.ts, console.ts) and the mailers in projections/.
        "email failures",
        words.EMAIL_FAILURES,
        [
          "unknown",
          "deadline",
          "erased",
          "code_key_missing",
          "timeout",
          "network",
          "client-error",
          "rate-limited",
          "server-error",
          "unauthorized",
          "rejected",
          "console-write-failed",
        ],
      ],
      ["provider reasons", words.PROVIDER_REASONS, ["bounce", "generic", "suppress-bounce"]],
      [
        "event types",
        words.EVENT_TYPES,
        every<EventType>({
          PasswordResetRequested: true,
          PasswordResetRejected: true,
          PasswordResetRefusalsCounted: true,
          PasswordResetEmailSent: true,
          PasswordResetEmailFailed: true,
          PasswordResetEmailDelivered: true,
          PasswordResetEmailBounced: true,
          PasswordResetEmailDeferred: true,
          PasswordResetEmailComplained: true,
          PasswordResetCodeRejected: true,
          PasswordResetCompleted: true,
          UserRegistered: true,
          UserLoggedIn: true,
          SessionEnded: true,
          PasswordChanged: true,
          PasswordChangedNoticeSent: true,
          PasswordChangedNoticeFailed: true,
          PasswordChangedNoticeDelivered: true,
          PasswordChangedNoticeBounced: true,
          PasswordChangedNoticeDeferred: true,
          PasswordChangedNoticeComplained: true,
          PersonalDataErased: true,
        }),
      ],
    ];
    for (const [table, entries, identifiers] of tables) {
      for (const identifier of identifiers) {
        const shown = Object.hasOwn(entries, identifier) ? entries[identifier] : undefined;
        expect({ table, identifier, words: /^[A-Za-z][A-Za-z ,'’()]*$/.test(shown ?? "") }).toEqual(
          { table, identifier, words: true },
        );
      }
    }
    expect(words.label(words.LIMITS, "email_daily")).toBe("email daily");
    expect(words.label(words.PROVIDER_REASONS, "mailbox-full")).toBe("mailbox full");
    expect(words.label(words.SESSION_ENDS, "constructor")).toBe("constructor");
    expect(words.label(words.EMAIL_FAILURES, undefined)).toBe("no reason given");
    expect(words.eventLabel("PasswordResetCodeForgotten")).toBe("Password reset code forgotten");
  });
});
