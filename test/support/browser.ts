/**
 * A real headless browser for page tests: Debian's chromium driven by playwright-core, with
 * every request outside the service's own origin blocked and recorded, and console errors kept.
 */
import { existsSync } from "node:fs";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Whether the browser is installed (`.ci/run` installs it; `apt-get install chromium` here). */
export const browserInstalled = existsSync(CHROMIUM);

export interface BrowserSession {
  page: Page;
  context: BrowserContext;
  /** Requests the page tried to make outside the allowed origin (all were aborted). */
  blocked: string[];
  /** Console messages of type error and uncaught page errors. */
  errors: string[];
  close(): Promise<void>;
}

// Without these, chromium reaches out to its own services at start, which this network refuses.
const QUIET_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

let shared: Browser | undefined;

async function browser(): Promise<Browser> {
  if (shared === undefined || !shared.isConnected()) {
    shared = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: QUIET_FLAGS });
  }
  return shared;
}

/** A fresh page whose network reaches `origin` only. */
export async function openPage(
  origin: string,
  viewport = { width: 1366, height: 768 },
): Promise<BrowserSession> {
  const allowed = new URL(origin).origin;
  const context = await (await browser()).newContext({ viewport });
  const blocked: string[] = [];
  const errors: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    let target: string;
    try {
      target = new URL(url).origin;
    } catch {
      target = "";
    }
    if (target === allowed) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  return { page, context, blocked, errors, close: () => context.close() };
}

/** Closes the shared browser (call from afterAll of the last test using it). */
export async function closeBrowser(): Promise<void> {
  await shared?.close();
  shared = undefined;
}

/** One file of a page fetched whole: its status and the headers that keep it to its own origin. */
export async function pageFileHeaders(url: string) {
  const res = await fetch(url);
  await res.arrayBuffer();
  return {
    status: res.status,
    frameOptions: res.headers.get("x-frame-options"),
    sniffing: res.headers.get("x-content-type-options"),
    cache: res.headers.get("cache-control"),
    policy: res.headers.get("content-security-policy") ?? "",
  };
}
