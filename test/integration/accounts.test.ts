import { describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { sweepExpired } from "../../src/maintenance";
import { readModelSweeps } from "../../src/runtime";
import { freshIp } from "../support/random";
import { useRuntime } from "../support/runtime";

const t = useRuntime({ TRUST_PROXY: "1" });

const strong = "Tr1cky-Passw0rd";

/** Each from its own client address: the per-address registration limit is measured in limits.test.ts. */
const register = (body: unknown) =>
  t.request("POST", "/v1/auth/register", body, { "x-forwarded-for": freshIp() });

describe("POST /v1/auth/register", () => {
  test("201 with exactly the documented body, the email normalised", async () => {
    const res = await register({
      email: "  Alice@Example.COM ",
      password: strong,
    });
    expect(res.status).toBe(201);
    const body = res.json as { user: Record<string, string> };
    expect(Object.keys(body)).toEqual(["user"]);
    expect(Object.keys(body.user).sort()).toEqual(["created_at", "email", "id"]);
    expect(body.user.email).toBe("alice@example.com");
    expect(body.user.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(body.user.created_at as string).toISOString()).toBe(
      body.user.created_at as string,
    );
  });

  test("409 on a duplicate, also differing only in case or surrounding spaces", async () => {
    await register({ email: "bob@example.com", password: strong });
    for (const email of ["bob@example.com", "BOB@example.com", " Bob@Example.Com\t"]) {
      const res = await register({ email, password: strong });
      expect(res.status).toBe(409);
      expect(res.json).toEqual({ error: "email already registered" });
    }
  });

  test("concurrent registrations of one email: one 201, the rest 409", async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => register({ email: "race@example.com", password: strong })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
  });

  const cases: [string, unknown, string][] = [
    ["missing email", { password: strong }, "email and password are required"],
    ["missing password", { email: "c@example.com" }, "email and password are required"],
    ["blank email", { email: "   ", password: strong }, "email and password are required"],
    [
      "null password",
      { email: "c@example.com", password: null },
      "email and password are required",
    ],
    ["numeric email", { email: 42, password: strong }, "email and password are required"],
    ["no @", { email: "c.example.com", password: strong }, "invalid email format"],
    ["space inside", { email: "c d@example.com", password: strong }, "invalid email format"],
    [
      "too long",
      { email: `${"a".repeat(250)}@example.com`, password: strong },
      "invalid email format",
    ],
    ["CR/LF", { email: "c@example.com\r\nBcc: x@y.z", password: strong }, "invalid email format"],
    [
      "short password",
      { email: "c@example.com", password: "Aa1!" },
      "password must be at least 8 characters",
    ],
    [
      "long password",
      { email: "c@example.com", password: `Aa1!${"x".repeat(253)}` },
      "password must be at most 256 characters",
    ],
    [
      "no digit",
      { email: "c@example.com", password: "Password!" },
      "password must contain at least one uppercase letter, one lowercase letter, one digit, and one special character",
    ],
    [
      "no special",
      { email: "c@example.com", password: "Passw0rdX" },
      "password must contain at least one uppercase letter, one lowercase letter, one digit, and one special character",
    ],
  ];
  for (const [name, body, message] of cases) {
    test(`400 ${name}`, async () => {
      const res = await register(body);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: message });
    });
  }

  test("the password is stored only as an argon2id hash; the email in events is sealed", async () => {
    const email = "sealed@example.com";
    const res = await register({ email, password: strong });
    const { id } = (res.json as { user: { id: string } }).user;
    const user = await t.runtime.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(user.password_hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify(strong, user.password_hash)).toBe(true);

    const { rows } = await sql<{ stream_id: string; type: string; text: string }>`
      select stream_id, type, data::text || metadata::text as text from events
      where stream_id = ${`user-${id}`}`.execute(t.runtime.db);
    expect(rows.map((r) => r.type)).toEqual(["UserRegistered"]);
    const text = rows[0]?.text ?? "";
    expect(text).not.toContain(email);
    expect(text).not.toContain("argon2");
    expect(text).not.toContain(strong);
    expect(text).toContain("sealed:v1:");
  });
});

describe("maintenance", () => {
  test("the sweep removes expired sessions and spent rate-limit rows, and keeps live ones", async () => {
    const db = t.runtime.db;
    const user = await register({
      email: "sweep@example.com",
      password: strong,
    });
    const userId = (user.json as { user: { id: string } }).user.id;
    await db
      .insertInto("sessions")
      .values([
        {
          token_hash: "expired",
          session_id: crypto.randomUUID(),
          user_id: userId,
          expires_at: new Date(Date.now() - 1000),
        },
        {
          token_hash: "live",
          session_id: crypto.randomUUID(),
          user_id: userId,
          expires_at: new Date(Date.now() + 60_000),
        },
      ])
      .execute();
    await db
      .insertInto("rate_limits")
      .values([
        { key: "spent", tat: new Date(Date.now() - 1000) },
        { key: "live", tat: new Date(Date.now() + 60_000) },
      ])
      .execute();
    await sweepExpired(db, readModelSweeps);
    const sessions = await db
      .selectFrom("sessions")
      .select("token_hash")
      .where("user_id", "=", userId)
      .execute();
    expect(sessions.map((s) => s.token_hash)).toEqual(["live"]);
    const limits = await db
      .selectFrom("rate_limits")
      .select("key")
      .where("key", "in", ["spent", "live"])
      .execute();
    expect(limits.map((l) => l.key)).toEqual(["live"]);
  });
});
