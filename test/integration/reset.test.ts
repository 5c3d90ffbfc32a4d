/**
 * POST /v1/auth/password-reset/reset in-process (README: API, Security): the whole service on a
 * fresh database, driven through app.handle, with the fake Mailgun on loopback. Each test gets
 * its own client address (TRUST_PROXY), so the per-IP limit only shows where it is tested.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { userStreamId } from "../../events/user";
import { formatResetCode } from "../../projections/emails/code-format";
import { generateResetCode } from "../../src/password-reset/code";
import { resetStreamOf } from "../../src/password-reset/streams";
import { codesSent, freshIp, lastCodeTo, uniqueEmail } from "../support/e2e";
import { mailgunEnv } from "../support/fake-mailgun";
import { useFakeMailgun } from "../support/fixture";
import { type TestRuntime, useRuntime } from "../support/runtime";
import { waitFor } from "../support/wait";

const RESET = "/v1/auth/password-reset/reset";
const INVALID_CODE = { error: "invalid or expired password reset code" };
const oldPassword = "Old-Passw0rd!";
const newPassword = "N3w-Passw0rd!";

const fake = useFakeMailgun();

const mailEnv = () => ({
  ...mailgunEnv(fake),
  TRUST_PROXY: "true",
});

const t = useRuntime(mailEnv);

/** A well-formed code that is nobody's (2^-100 odds of hitting a real one). */
const wrongCode = () => formatResetCode(generateResetCode());

/** The code of the newest reset email to this address, as shown. */
const latestCodeFor = (email: string) => lastCodeTo(fake, email);

type Row = { type: string; data: Record<string, unknown> };

/** The client of one runtime: register, trigger, reset, and the log as SQL sees it. */
function clientOf(rt: () => TestRuntime) {
  const api = {
    async register(email: string) {
      const res = await rt().request(
        "POST",
        "/v1/auth/register",
        { email, password: oldPassword },
        { "x-forwarded-for": freshIp() },
      );
      expect(res.status).toBe(201);
      return (res.json as { user: { id: string } }).user.id;
    },
    async login(email: string, password: string) {
      const res = await rt().request("POST", "/v1/auth/login", { email, password });
      expect(res.status).toBe(200);
      return (res.json as { token: string }).token;
    },
    /** Registers, triggers (200) and returns the emailed code. */
    async userWithCode(tag: string) {
      const email = uniqueEmail(tag);
      const userId = await api.register(email);
      const code = await api.newCode(email);
      return { email, userId, code };
    },
    async newCode(email: string) {
      const res = await rt().request(
        "POST",
        "/v1/auth/password-reset/trigger",
        { email },
        { "x-forwarded-for": freshIp() },
      );
      expect(res.status).toBe(200);
      return latestCodeFor(email);
    },
    reset(body: unknown, ip: string) {
      return rt().request("POST", RESET, body, { "x-forwarded-for": ip });
    },
    async eventsIn(streamId: string): Promise<Row[]> {
      const { rows } = await sql<Row>`
        select type, data from events where stream_id = ${streamId}
        order by stream_version`.execute(rt().runtime.db);
      return rows;
    },
    /** The reasons of the PasswordResetCodeRejected events in the email's stream, in order. */
    async rejectionsFor(email: string) {
      const events = await api.eventsIn(await resetStreamOf(rt().runtime, email));
      return events.filter((e) => e.type === "PasswordResetCodeRejected").map((e) => e.data);
    },
    async codeStatuses(userId: string) {
      const rows = await rt()
        .runtime.db.selectFrom("reset_codes")
        .select("status")
        .where("user_id", "=", userId)
        .orderBy("requested_at")
        .execute();
      return rows.map((r) => r.status);
    },
  };
  return api;
}

const api = clientOf(() => t);

describe("400 answers, checked before the code", () => {
  const strong = newPassword;
  const required = "code and new_password are required";
  const tooSimple =
    "password must contain at least one uppercase letter, one lowercase letter, one digit, and one special character";
  const rows: [string, (code: string) => unknown, string][] = [
    ["empty object", () => ({}), required],
    ["code missing", () => ({ new_password: strong }), required],
    ["new_password missing", (code) => ({ code }), required],
    ["code empty", () => ({ code: "", new_password: strong }), required],
    ["code blank", () => ({ code: " \t ", new_password: strong }), required],
    ["new_password empty", (code) => ({ code, new_password: "" }), required],
    ["new_password blank", (code) => ({ code, new_password: "   " }), required],
    ["code null", () => ({ code: null, new_password: strong }), required],
    ["new_password null", (code) => ({ code, new_password: null }), required],
    ["code a number", () => ({ code: 1234, new_password: strong }), required],
    ["new_password a number", (code) => ({ code, new_password: 12345678 }), required],
    [
      "password of 7 characters",
      (code) => ({ code, new_password: "Sh0rt-1" }),
      "password must be at least 8 characters",
    ],
    [
      "password of 257 characters",
      (code) => ({ code, new_password: `Aa1-${"x".repeat(253)}` }),
      "password must be at most 256 characters",
    ],
    [
      "password without an uppercase letter",
      (code) => ({ code, new_password: "n3w-passw0rd!" }),
      tooSimple,
    ],
    [
      "password without a lowercase letter",
      (code) => ({ code, new_password: "N3W-PASSW0RD!" }),
      tooSimple,
    ],
    ["password without a digit", (code) => ({ code, new_password: "New-Password!" }), tooSimple],
    [
      "password without a special character",
      (code) => ({ code, new_password: "N3wPassw0rd" }),
      tooSimple,
    ],
  ];

  let user: { email: string; userId: string; code: string };
  const ip = freshIp();
  beforeAll(async () => {
    user = await api.userWithCode("rows");
  });

  for (const [name, body, error] of rows) {
    test(`${name} → 400 ${error}`, async () => {
      // With the account's valid code, and with a code that is nobody's: the same answer.
      for (const code of [user.code, wrongCode()]) {
        const res = await api.reset(body(code), ip);
        expect({ status: res.status, body: res.json }).toEqual({ status: 400, body: { error } });
        expect(res.headers.get("content-type") ?? "").toStartWith("application/json");
      }
    });
  }

  test("none of those touched the code: no rejection recorded, no failure counted, the code works", async () => {
    expect(await api.rejectionsFor(user.email)).toEqual([]);
    const { rows: counted } = await sql<{ n: number }>`
      select count(*)::int as n from events where type = 'PasswordResetCodeRejected'`.execute(
      t.runtime.db,
    );
    expect(counted[0]?.n).toBe(0);
    const res = await api.reset({ code: user.code, new_password: strong }, ip);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ message: "password reset successfully", email: user.email });
  });

  test("lengths count characters: exactly 8 and exactly 256 are accepted", async () => {
    for (const password of ["Aa1-bcde", `Aa1-${"é".repeat(252)}`]) {
      const { email, code } = await api.userWithCode("lengths");
      const res = await api.reset({ code, new_password: password }, freshIp());
      expect({ password, status: res.status }).toEqual({ password, status: 200 });
      expect(res.json).toEqual({ message: "password reset successfully", email });
    }
  });
});

describe("a successful reset", () => {
  test("accepts the code lower-cased, without dashes, with the email in any case", async () => {
    const { email, code } = await api.userWithCode("forms");
    const res = await api.reset(
      {
        code: code.toLowerCase().replaceAll("-", ""),
        new_password: newPassword,
        email: ` ${email.toUpperCase()} `,
      },
      freshIp(),
    );
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ message: "password reset successfully", email });
  });

  test("changes the password, ends every session of the user and records no secret", async () => {
    const { email, userId, code } = await api.userWithCode("sessions");
    const tokens = [await api.login(email, oldPassword), await api.login(email, oldPassword)];
    const other = await api.userWithCode("bystander");
    const otherToken = await api.login(other.email, oldPassword);
    const sessionsOf = async (id: string) =>
      (
        await t.runtime.db
          .selectFrom("sessions")
          .select("user_id")
          .where("user_id", "=", id)
          .execute()
      ).length;
    expect(await sessionsOf(userId)).toBe(2);

    const res = await api.reset({ code, new_password: newPassword }, freshIp());
    expect(res.status).toBe(200);

    expect(await sessionsOf(userId)).toBe(0);
    for (const token of tokens) {
      const me = await t.request("GET", "/v1/auth/me", undefined, {
        authorization: `Bearer ${token}`,
      });
      expect({ status: me.status, body: me.json }).toEqual({
        status: 401,
        body: { error: "unauthorized" },
      });
    }
    // Another user's session is untouched.
    expect(await sessionsOf(other.userId)).toBe(1);
    const otherMe = await t.request("GET", "/v1/auth/me", undefined, {
      authorization: `Bearer ${otherToken}`,
    });
    expect(otherMe.status).toBe(200);

    const login = (password: string) => t.request("POST", "/v1/auth/login", { email, password });
    expect((await login(newPassword)).status).toBe(200);
    const old = await login(oldPassword);
    expect({ status: old.status, body: old.json }).toEqual({
      status: 401,
      body: { error: "invalid credentials" },
    });

    // The user's stream: the change, with its password hash sealed (no plaintext, no argon2).
    const userEvents = await api.eventsIn(userStreamId(userId));
    const changed = userEvents.filter((e) => e.type === "PasswordChanged");
    expect(changed).toHaveLength(1);
    expect(Object.keys(changed[0]?.data ?? {}).sort()).toEqual(
      ["locale", "reason", "requestId", "sealedPasswordHash", "userId"].sort(),
    );
    expect(changed[0]?.data).toMatchObject({ userId, reason: "reset", locale: "en" });
    const resetEvents = await api.eventsIn(await resetStreamOf(t.runtime, email));
    const completed = resetEvents.filter((e) => e.type === "PasswordResetCompleted");
    expect(completed).toHaveLength(1);
    expect(changed[0]?.data.requestId).toBe(completed[0]?.data.requestId);

    const { rows } = await sql<{ text: string }>`
      select stream_id || ' ' || type || ' ' || data::text || ' ' || metadata::text as text
      from events`.execute(t.runtime.db);
    const log = rows.map((r) => r.text).join("\n");
    expect(log.toLowerCase()).not.toContain("argon2");
    for (const secret of [newPassword, oldPassword, email]) expect(log).not.toContain(secret);
  });
});

describe("codes that no longer work get 400 and a recorded reason", () => {
  test("a used code: used", async () => {
    const { email, userId, code } = await api.userWithCode("used");
    expect((await api.reset({ code, new_password: newPassword }, freshIp())).status).toBe(200);
    const again = await api.reset({ code, new_password: "An0ther-Passw0rd!" }, freshIp());
    expect({ status: again.status, body: again.json }).toEqual({ status: 400, body: INVALID_CODE });
    expect((await api.rejectionsFor(email)).map((d) => d.reason)).toEqual(["used"]);
    expect(await api.codeStatuses(userId)).toEqual(["used"]);
    // The second attempt did not change the password.
    expect(
      (await t.request("POST", "/v1/auth/login", { email, password: newPassword })).status,
    ).toBe(200);
  });

  test("a superseded code: superseded, and the newer code still works", async () => {
    const { email, userId, code: first } = await api.userWithCode("superseded");
    const second = await api.newCode(email);
    expect(second).not.toBe(first);
    const res = await api.reset({ code: first, new_password: newPassword }, freshIp());
    expect({ status: res.status, body: res.json }).toEqual({ status: 400, body: INVALID_CODE });
    expect((await api.rejectionsFor(email)).map((d) => d.reason)).toEqual(["superseded"]);
    expect(await api.codeStatuses(userId)).toEqual(["superseded", "active"]);
    expect((await api.reset({ code: second, new_password: newPassword }, freshIp())).status).toBe(
      200,
    );
  });

  describe("an expired code (RESET_CODE_TTL_SECONDS=1)", () => {
    const short = useRuntime(() => ({ ...mailEnv(), RESET_CODE_TTL_SECONDS: "1" }));
    const shortApi = clientOf(() => short);

    test("expired", async () => {
      const { email, userId, code } = await shortApi.userWithCode("expired");
      const row = await short.runtime.db
        .selectFrom("reset_codes")
        .select(["expires_at", "requested_at"])
        .where("user_id", "=", userId)
        .executeTakeFirstOrThrow();
      expect(row.expires_at.getTime() - row.requested_at.getTime()).toBeWithin(900, 1100);
      await waitFor(() => Date.now() > row.expires_at.getTime() + 50, {
        timeoutMs: 5_000,
        what: "the code's expiry",
      });

      const res = await shortApi.reset({ code, new_password: newPassword }, freshIp());
      expect({ status: res.status, body: res.json }).toEqual({ status: 400, body: INVALID_CODE });
      expect((await shortApi.rejectionsFor(email)).map((d) => d.reason)).toEqual(["expired"]);
      // The old password still works: nothing changed.
      expect(
        (await short.request("POST", "/v1/auth/login", { email, password: oldPassword })).status,
      ).toBe(200);
    });
  });
});

describe("a code is consumed atomically", () => {
  test("20 concurrent resets with one code: one 200, nineteen 400, one completion, one change", async () => {
    const { email, userId, code } = await api.userWithCode("race");
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        api.reset({ code, new_password: `Race-Passw0rd-${i}` }, freshIp()),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(19);
    for (const res of results.filter((r) => r.status === 400))
      expect(res.json).toEqual(INVALID_CODE);

    const resetEvents = await api.eventsIn(await resetStreamOf(t.runtime, email));
    expect(resetEvents.filter((e) => e.type === "PasswordResetCompleted")).toHaveLength(1);
    expect(
      resetEvents.filter((e) => e.type === "PasswordResetCodeRejected").map((e) => e.data.reason),
    ).toEqual(Array(19).fill("used"));
    const userEvents = await api.eventsIn(userStreamId(userId));
    expect(userEvents.filter((e) => e.type === "PasswordChanged")).toHaveLength(1);

    // The password is the winner's.
    const winner = statuses.indexOf(200);
    const login = await t.request("POST", "/v1/auth/login", {
      email,
      password: `Race-Passw0rd-${winner}`,
    });
    expect(login.status).toBe(200);
  });
});

describe("five wrong codes with the email lock the code", () => {
  async function lockAndCheck(rt: TestRuntime, client: ReturnType<typeof clientOf>) {
    const { email, userId, code } = await client.userWithCode("lock");
    const ip = freshIp();
    for (let i = 1; i <= 5; i++) {
      const res = await client.reset({ code: wrongCode(), new_password: newPassword, email }, ip);
      expect({ try: i, status: res.status, body: res.json }).toEqual({
        try: i,
        status: 400,
        body: INVALID_CODE,
      });
    }
    const wrongTries = await client.rejectionsFor(email);
    expect(wrongTries.map((d) => [d.reason, d.failedAttempts, d.locked ?? false])).toEqual([
      ["wrong_code", 1, false],
      ["wrong_code", 2, false],
      ["wrong_code", 3, false],
      ["wrong_code", 4, false],
      ["wrong_code", 5, true],
    ]);
    expect(await client.codeStatuses(userId)).toEqual(["locked"]);

    const right = await client.reset({ code, new_password: newPassword, email }, ip);
    expect({ status: right.status, body: right.json }).toEqual({ status: 400, body: INVALID_CODE });
    // Without the email, from the same client, the code is just as dead.
    const again = await client.reset({ code, new_password: newPassword }, ip);
    expect({ status: again.status, body: again.json }).toEqual({ status: 400, body: INVALID_CODE });
    const reasons = (await client.rejectionsFor(email)).map((d) => d.reason);
    expect(reasons.slice(5)).toEqual(["locked", "locked"]);
    const login = await rt.request("POST", "/v1/auth/login", { email, password: oldPassword });
    expect(login.status).toBe(200);

    // The lock is the guesser's: the owner, at another address, still resets with the code.
    expect((await client.reset({ code, new_password: newPassword, email }, freshIp())).status).toBe(
      200,
    );
  }

  test("with rate limits on", async () => {
    await lockAndCheck(t, api);
  });

  describe("with RATE_LIMITS=off (the lock is not a rate limit)", () => {
    const off = useRuntime(() => ({ ...mailEnv(), RATE_LIMITS: "off" }));
    const offApi = clientOf(() => off);

    test("the lock holds", async () => {
      await lockAndCheck(off, offApi);
    });
  });
});

describe("too many failed codes from one client", () => {
  test("10 failed codes from one IP, then the 11th, even with a valid code, gets 429", async () => {
    const { email, code } = await api.userWithCode("per-ip");
    const ip = freshIp();
    for (let i = 1; i <= 10; i++) {
      const res = await api.reset({ code: wrongCode(), new_password: newPassword }, ip);
      expect({ try: i, status: res.status, body: res.json }).toEqual({
        try: i,
        status: 400,
        body: INVALID_CODE,
      });
    }
    const limited = await api.reset({ code, new_password: newPassword }, ip);
    expect({ status: limited.status, body: limited.json }).toEqual({
      status: 429,
      body: { error: "too many requests" },
    });
    expect(limited.headers.get("content-type") ?? "").toStartWith("application/json");
    const retryAfter = limited.headers.get("retry-after") ?? "";
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);

    // The refusal did not spend the code: from another client it still works.
    const elsewhere = await api.reset({ code, new_password: newPassword }, freshIp());
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.json).toEqual({ message: "password reset successfully", email });
  });

  test("successes do not count: eleven good codes from one client all get 200", async () => {
    const ip = freshIp();
    for (let i = 0; i < 11; i++) {
      const { code } = await api.userWithCode("ok-ip");
      expect((await api.reset({ code, new_password: newPassword }, ip)).status).toBe(200);
    }
  });
});

/**
 * Concurrency of failed attempts: failed resets racing on one stream must still be answered 400
 * (not 500 from an exhausted re-decide loop or a lost race for the end of a stream), and a burst
 * from one client must not outrun its budget of failed codes.
 */
describe("failed attempts under concurrency", () => {
  const allowed = (status: number) => status === 400 || status === 429;

  test("20 concurrent wrong codes with the email: every answer 400 (not 500), and the code locks", async () => {
    const { email, userId, code } = await api.userWithCode("wrong-race");
    // Four clients, five wrong tries each at once: each client's fifth locks the code for it.
    const clients = Array.from({ length: 4 }, freshIp);
    const results = await Promise.all(
      clients.flatMap((ip) =>
        Array.from({ length: 5 }, () =>
          api.reset({ code: wrongCode(), new_password: newPassword, email }, ip),
        ),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual(Array(20).fill(400));
    for (const res of results) expect(res.json).toEqual(INVALID_CODE);
    expect(await api.codeStatuses(userId)).toEqual(["locked"]);
    for (const ip of clients) {
      const right = await api.reset({ code, new_password: newPassword, email }, ip);
      expect(right.status).toBe(400);
    }
  });

  test("20 concurrent unknown codes from one client: each 400 or 429, never 500", async () => {
    const ip = freshIp();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.reset({ code: wrongCode(), new_password: newPassword }, ip),
      ),
    );
    expect(results.map((r) => r.status).filter((s) => !allowed(s))).toEqual([]);
  });

  test("a concurrent burst from one client gets at most 10 codes checked, then 429", async () => {
    const ip = freshIp();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.reset({ code: wrongCode(), new_password: newPassword }, ip),
      ),
    );
    // Anything but a 429 tells the client whether its code was right.
    const checked = results.filter((r) => r.status !== 429);
    expect(checked.length).toBeLessThanOrEqual(10);
    expect((await api.reset({ code: wrongCode(), new_password: newPassword }, ip)).status).toBe(
      429,
    );
  });
});

describe("the event log", () => {
  test("no plaintext code, in any form, appears in any event", async () => {
    const codes = codesSent(fake.messages);
    expect(codes.length).toBeGreaterThan(20);
    const { rows } = await sql<{ text: string }>`
      select stream_id || ' ' || type || ' ' || data::text || ' ' || metadata::text as text
      from events`.execute(t.runtime.db);
    const log = rows
      .map((r) => r.text)
      .join("\n")
      .toUpperCase();
    const leaked = codes.filter((c) => log.includes(c) || log.includes(c.replaceAll("-", "")));
    expect(leaked).toEqual([]);
  });
});
