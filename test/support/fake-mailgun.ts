export const DEFAULT_FAKE_API_KEY = "key-fake-mailgun";
export const DEFAULT_FAKE_DOMAIN = "mg.example.test";

export interface FailureSpec {
  status: number;
  retryAfter?: string;
  body?: unknown;
}

export interface RandomFaults {
  fail500?: number;
  /** Share of calls answered 503 (Mailgun's "service unavailable"). */
  fail503?: number;
  fail429?: number;
  slow?: number;
  slowMs?: number;
}

export type FakeMode =
  | "ok"
  | "refuse"
  | { status: number; retryAfter?: string; body?: unknown }
  | { delayMs: number }
  /** Takes the message at once (it will be delivered) but answers only after this long. */
  | { acceptThenDelayMs: number }
  | { random: RandomFaults };

export type Fields = Record<string, string[]>;

export interface FakeMessage {
  id: string;
  domain: string;
  fields: Fields;
  headers: Record<string, string>;
  receivedAt: number;
}

export type AttemptOutcome =
  | "pending"
  | "accepted"
  | "unauthorized"
  | "not-found"
  | "invalid"
  | "failed"
  | "client-aborted";

export interface FakeAttempt {
  seq: number;
  method: string;
  path: string;
  domain: string | null;
  fields: Fields;
  headers: Record<string, string>;
  receivedAt: number;
  status: number | null;
  outcome: AttemptOutcome;
  messageId: string | null;
}

export interface StartFakeMailgunOptions {
  apiKey?: string;
  domain?: string;
  port?: number;
  controlApi?: boolean;
  random?: () => number;
}

export type Predicate = (
  messages: readonly FakeMessage[],
  attempts: readonly FakeAttempt[],
) => boolean;

export interface FakeMailgun {
  readonly url: string;
  readonly apiKey: string;
  readonly domain: string;
  readonly messages: readonly FakeMessage[];
  readonly attempts: readonly FakeAttempt[];
  readonly mode: FakeMode;
  /** Called for each message once it is accepted (fake-mailgun-webhooks.ts reports on it). */
  onAccepted: ((message: FakeMessage) => void) | undefined;
  failNext(n: number, failure: FailureSpec): void;
  /** Answers 400 to any request with one of these among its recipients, as Mailgun does. */
  refuseRecipients(addresses: readonly string[]): void;
  setMode(mode: FakeMode): Promise<void>;
  waitFor(predicate: Predicate, timeoutMs?: number): Promise<readonly FakeMessage[]>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export function firstField(fields: Fields, name: string): string | undefined {
  return fields[name]?.[0];
}

type Server = ReturnType<typeof Bun.serve>;

const MESSAGES_PATH = /^\/v3\/([^/]+)\/messages\/?$/;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function defaultFailureBody(status: number): unknown {
  if (status === 429) return { message: "Too many requests" };
  if (status === 401) return { message: "Forbidden" };
  if (status >= 500) return { message: "Internal server error" };
  return { message: `Fake failure ${status}` };
}

function failureResponse(failure: FailureSpec): Response {
  const headers: Record<string, string> = {};
  if (failure.retryAfter !== undefined) headers["retry-after"] = failure.retryAfter;
  return json(failure.status, failure.body ?? defaultFailureBody(failure.status), headers);
}

async function readFields(request: Request): Promise<Fields | null> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^(multipart\/form-data|application\/x-www-form-urlencoded)\b/i.test(type)) return null;
  const form = await request.formData().catch(() => null);
  if (form === null) return null;
  const map = new Map<string, string[]>();
  for (const [name, value] of form.entries()) {
    const text = typeof value === "string" ? value : `[file ${value.name}]`;
    const list = map.get(name);
    if (list) list.push(text);
    else map.set(name, [text]);
  }
  return Object.fromEntries(map);
}

/** Every address a request names: `to` may repeat, and each value may hold a comma-separated list. */
export function recipientsOf(fields: Fields): string[] {
  return (fields.to ?? [])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
}

const RECIPIENT_VARIABLE = /%recipient\.([A-Za-z0-9_-]+)%/g;

/**
 * The messages Mailgun makes of one request: with `recipient-variables`, one message per
 * recipient, rendered with that recipient's own values and naming only them; else one message.
 */
function expand(fields: Fields): Fields[] | string {
  const raw = firstField(fields, "recipient-variables");
  if (raw === undefined) return [fields];
  let variables: unknown;
  try {
    variables = JSON.parse(raw);
  } catch {
    return "recipient-variables parameter is not a valid JSON";
  }
  if (typeof variables !== "object" || variables === null) {
    return "recipient-variables parameter is not a valid JSON";
  }
  const { "recipient-variables": _, ...rest } = fields;
  return recipientsOf(fields).map((to) => {
    const own = (variables as Record<string, Record<string, unknown> | undefined>)[to] ?? {};
    const render = (value: string) =>
      value.replace(RECIPIENT_VARIABLE, (_, name: string) =>
        own[name] === undefined ? "" : String(own[name]),
      );
    const rendered: Fields = { ...rest, to: [to] };
    for (const part of ["subject", "text", "html"]) {
      const values = rest[part];
      if (values) rendered[part] = values.map(render);
    }
    return rendered;
  });
}

function authorised(request: Request, apiKey: string): boolean {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (!match?.[1]) return false;
  let decoded: string;
  try {
    decoded = atob(match[1]);
  } catch {
    return false;
  }
  return decoded === `api:${apiKey}`;
}

function waitUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

export async function startFakeMailgun(opts: StartFakeMailgunOptions = {}): Promise<FakeMailgun> {
  const apiKey = opts.apiKey ?? DEFAULT_FAKE_API_KEY;
  const domain = opts.domain ?? DEFAULT_FAKE_DOMAIN;
  const controlApi = opts.controlApi ?? false;
  const random = opts.random ?? Math.random;

  let messages: FakeMessage[] = [];
  let attempts: FakeAttempt[] = [];
  let failures: FailureSpec[] = [];
  let refusedRecipients = new Set<string>();
  let mode: FakeMode = "ok";
  let seq = 0;
  let refuseTimer: ReturnType<typeof setTimeout> | undefined;
  const listeners = new Set<() => void>();

  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };

  const finish = (attempt: FakeAttempt, response: Response, outcome: AttemptOutcome): Response => {
    attempt.status = response.status;
    attempt.outcome = outcome;
    notify();
    return response;
  };

  async function handleMessages(request: Request, attempt: FakeAttempt): Promise<Response> {
    if (!authorised(request, apiKey)) {
      return finish(attempt, json(401, { message: "Forbidden" }), "unauthorized");
    }
    if (attempt.domain !== domain) {
      const body = { message: `Domain not found: ${attempt.domain ?? ""}` };
      return finish(attempt, json(404, body), "not-found");
    }
    const fields = await readFields(request);
    if (fields === null) {
      return finish(attempt, json(400, { message: "invalid form body" }), "invalid");
    }
    attempt.fields = fields;
    // Waiters may be looking for a request by its recipients: they are known from here on.
    notify();
    const missing = ["from", "to"].find((name) => !fields[name]?.some((v) => v.trim() !== ""));
    if (missing) {
      return finish(attempt, json(400, { message: `${missing} parameter is missing` }), "invalid");
    }
    if (!fields.text && !fields.html && !fields.template) {
      const body = {
        message: "Need at least one of 'text', 'html' or 'template' parameters specified",
      };
      return finish(attempt, json(400, body), "invalid");
    }

    const refused = recipientsOf(fields).find((to) => refusedRecipients.has(to));
    if (refused !== undefined) {
      const body = { message: "'to' parameter is not a valid address. please check documentation" };
      return finish(attempt, json(400, body), "invalid");
    }
    const expanded = expand(fields);
    if (typeof expanded === "string") {
      return finish(attempt, json(400, { message: expanded }), "invalid");
    }

    const scripted = failures.shift();
    if (scripted) return finish(attempt, failureResponse(scripted), "failed");

    let delayMs = 0;
    const current = mode;
    if (typeof current === "object" && "status" in current) {
      return finish(attempt, failureResponse(current), "failed");
    }
    if (typeof current === "object" && "delayMs" in current) delayMs = current.delayMs;
    if (typeof current === "object" && "random" in current) {
      const { fail500 = 0, fail503 = 0, fail429 = 0, slow = 0, slowMs = 3000 } = current.random;
      const roll = random();
      if (roll < fail500) return finish(attempt, failureResponse({ status: 500 }), "failed");
      if (roll < fail500 + fail503) {
        return finish(attempt, failureResponse({ status: 503 }), "failed");
      }
      const failed = fail500 + fail503;
      if (roll < failed + fail429) {
        return finish(attempt, failureResponse({ status: 429, retryAfter: "1" }), "failed");
      }
      if (roll < failed + fail429 + slow) delayMs = slowMs;
    }
    // Mailgun answers a batch with one id for all its recipients' messages.
    const id = `<${Date.now()}.${crypto.randomUUID()}@${domain}>`;
    const accept = () => {
      for (const one of expanded) {
        const message = {
          id,
          domain,
          fields: one,
          headers: attempt.headers,
          receivedAt: attempt.receivedAt,
        };
        messages.push(message);
        fake.onAccepted?.(message);
      }
      attempt.messageId = id;
    };
    if (typeof current === "object" && "acceptThenDelayMs" in current) {
      accept();
      notify();
      await Bun.sleep(current.acceptThenDelayMs);
      return finish(attempt, json(200, { id, message: "Queued. Thank you." }), "accepted");
    }
    if (delayMs > 0 && !(await waitUnlessAborted(delayMs, request.signal))) {
      // Only answered messages count as accepted: a client that gave up never learnt of it.
      attempt.outcome = "client-aborted";
      notify();
      return json(504, { message: "client went away" });
    }

    accept();
    return finish(attempt, json(200, { id, message: "Queued. Thank you." }), "accepted");
  }

  async function handleControl(request: Request, path: string): Promise<Response> {
    if (request.method === "GET" && path === "/_fake/messages") return json(200, messages);
    if (request.method === "GET" && path === "/_fake/attempts") return json(200, attempts);
    if (request.method === "POST" && path === "/_fake/reset") {
      await fake.reset();
      return json(200, { ok: true });
    }
    const body: unknown = await request.json().catch(() => undefined);
    if (request.method === "POST" && path === "/_fake/fail-next") {
      const spec = body as Partial<FailureSpec> & { n?: unknown };
      const retryAfterOk = spec?.retryAfter === undefined || typeof spec.retryAfter === "string";
      if (typeof spec?.n !== "number" || typeof spec.status !== "number" || !retryAfterOk) {
        return json(400, {
          message: 'expected {"n": number, "status": number, "retryAfter"?: string}',
        });
      }
      fake.failNext(spec.n, { status: spec.status, retryAfter: spec.retryAfter, body: spec.body });
      return json(200, { ok: true });
    }
    if (request.method === "POST" && path === "/_fake/mode") {
      // Refusing for good would also cut this control API, so over HTTP it is always time-boxed.
      if (typeof body === "object" && body !== null && "refuseForMs" in body) {
        const ms = Number(body.refuseForMs);
        // Graceful close so this very request still gets its answer; new connections are refused.
        await refuse(false);
        refuseTimer = setTimeout(() => void fake.setMode("ok"), ms);
        return json(200, { ok: true });
      }
      if (body === "refuse") return json(400, { message: 'use {"refuseForMs": number}' });
      if (!isMode(body)) return json(400, { message: "unknown mode" });
      await fake.setMode(body);
      return json(200, { ok: true });
    }
    return json(404, { message: "Not Found" });
  }

  async function handle(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (controlApi && pathname.startsWith("/_fake/")) return handleControl(request, pathname);
    const match = MESSAGES_PATH.exec(pathname);
    const attempt: FakeAttempt = {
      seq: ++seq,
      method: request.method,
      path: pathname,
      domain: match?.[1] ? decodeURIComponent(match[1]) : null,
      fields: {},
      headers: Object.fromEntries(request.headers),
      receivedAt: Date.now(),
      status: null,
      outcome: "pending",
      messageId: null,
    };
    attempts.push(attempt);
    notify();
    if (!match || request.method !== "POST") {
      return finish(attempt, json(404, { message: "Not Found" }), "not-found");
    }
    return handleMessages(request, attempt);
  }

  const listen = (port: number): Server =>
    Bun.serve({ hostname: "127.0.0.1", port, idleTimeout: 120, fetch: handle });

  let server: Server | null = listen(opts.port ?? 0);
  const port = server.port;
  if (port === undefined) throw new Error("fake mailgun: no TCP port");
  const url = `http://127.0.0.1:${port}`;

  const refuse = async (cutConnections: boolean): Promise<void> => {
    clearTimeout(refuseTimer);
    mode = "refuse";
    const closing = server;
    server = null;
    const stopped = closing?.stop(cutConnections);
    if (cutConnections) await stopped;
  };

  const fake: FakeMailgun = {
    url,
    apiKey,
    domain,
    get messages() {
      return messages;
    },
    get attempts() {
      return attempts;
    },
    get mode() {
      return mode;
    },
    onAccepted: undefined,
    failNext(n, failure) {
      for (let i = 0; i < n; i++) failures.push(failure);
    },
    refuseRecipients(addresses) {
      refusedRecipients = new Set(addresses);
    },
    async setMode(next) {
      clearTimeout(refuseTimer);
      mode = next;
      if (next === "refuse") {
        await refuse(true);
      } else if (server === null) {
        server = listen(port);
      }
    },
    waitFor(predicate, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          let satisfied: boolean;
          try {
            satisfied = predicate(messages, attempts);
          } catch (error) {
            done();
            reject(error);
            return;
          }
          if (satisfied) {
            done();
            resolve(messages);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `fake mailgun: condition not met within ${timeoutMs} ms ` +
                `(${messages.length} messages, ${attempts.length} attempts)`,
            ),
          );
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async reset() {
      messages = [];
      attempts = [];
      failures = [];
      refusedRecipients = new Set();
      await fake.setMode("ok");
    },
    async stop() {
      clearTimeout(refuseTimer);
      const closing = server;
      server = null;
      await closing?.stop(true);
    },
  };
  return fake;
}

function isMode(value: unknown): value is FakeMode {
  if (value === "ok" || value === "refuse") return true;
  if (typeof value !== "object" || value === null) return false;
  if ("status" in value) return typeof value.status === "number";
  if ("delayMs" in value) return typeof value.delayMs === "number";
  if ("acceptThenDelayMs" in value) return typeof value.acceptThenDelayMs === "number";
  if ("random" in value) return typeof value.random === "object" && value.random !== null;
  return false;
}

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index === -1 ? undefined : process.argv[index + 1];
}

if (import.meta.main) {
  const portArg = argument("--port");
  const port = portArg === undefined ? 0 : Number(portArg);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`fake-mailgun: bad --port ${portArg}`);
    process.exit(2);
  }
  const fake = await startFakeMailgun({
    port,
    apiKey: argument("--api-key"),
    domain: argument("--domain"),
    controlApi: true,
  });
  console.log(fake.url);
  const shutdown = (): void => {
    void fake.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

/** The environment that points the service's mailer at this fake. */
export function mailgunEnv(fake: Pick<FakeMailgun, "url" | "apiKey" | "domain">) {
  return { MAILGUN_URL: fake.url, MAILGUN_API_KEY: fake.apiKey, MAILGUN_DOMAIN: fake.domain };
}
