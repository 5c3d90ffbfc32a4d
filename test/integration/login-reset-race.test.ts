/**
 * A login racing a reset never outlives it (README: Security): whatever the
 * interleaving of a login with the old password and the reset that changes it, no token that
 * login obtained works once the reset has completed.
 */
import { expect, test } from "bun:test";
import { sql } from "kysely";
import { lastCodeTo, uniqueEmail } from "../support/e2e";
import { runtimeWithFakeMailgun } from "../support/runtime";

const oldPassword = "Old-Passw0rd!";
const newPassword = "N3w-Passw0rd!";

const { t, fake } = runtimeWithFakeMailgun({ RATE_LIMITS: "off" });

async function userWithCode(): Promise<{ email: string; code: string }> {
  const email = uniqueEmail("race");
  const registered = await t.request("POST", "/v1/auth/register", { email, password: oldPassword });
  expect(registered.status).toBe(201);
  const triggered = await t.request("POST", "/v1/auth/password-reset/trigger", { email });
  expect(triggered.status).toBe(200);
  return { email, code: lastCodeTo(fake, email) };
}

/** Lets `n` database round trips go by: offsets the two requests without a timer. */
async function roundTrips(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await sql`select 1`.execute(t.runtime.db);
}

// Negative: the login starts first and the reset that many round trips later; positive: the reverse.
const offsets = [-40, -20, -8, -2, 0, 0, 2, 4, 8, 16, 32, 64];

test(`login with the old password racing a reset, ${offsets.length} interleavings: no token survives the reset`, async () => {
  const survivors: { offset: number; status: number }[] = [];
  let tokensIssued = 0;
  for (const offset of offsets) {
    const { email, code } = await userWithCode();
    const reset = async () => {
      if (offset < 0) await roundTrips(-offset);
      return t.request("POST", "/v1/auth/password-reset/reset", {
        code,
        new_password: newPassword,
      });
    };
    const login = async () => {
      if (offset > 0) await roundTrips(offset);
      return t.request("POST", "/v1/auth/login", { email, password: oldPassword });
    };
    const [resetAnswer, loginAnswer] = await Promise.all([reset(), login()]);
    expect(resetAnswer.status).toBe(200);
    expect([200, 401]).toContain(loginAnswer.status);
    if (loginAnswer.status !== 200) continue;
    tokensIssued++;
    const { token } = loginAnswer.json as { token: string };
    const me = await t.request("GET", "/v1/auth/me", undefined, {
      authorization: `Bearer ${token}`,
    });
    if (me.status !== 401) survivors.push({ offset, status: me.status });
  }
  expect(survivors).toEqual([]);
  // The race was run, not dodged: some logins did get a token before the change.
  expect(tokensIssued).toBeGreaterThan(0);
});

test("a login after the reset with the new password works, and with the old one does not", async () => {
  const { email, code } = await userWithCode();
  const reset = await t.request("POST", "/v1/auth/password-reset/reset", {
    code,
    new_password: newPassword,
  });
  expect(reset.status).toBe(200);
  const old = await t.request("POST", "/v1/auth/login", { email, password: oldPassword });
  expect(old.status).toBe(401);
  const fresh = await t.request("POST", "/v1/auth/login", { email, password: newPassword });
  expect(fresh.status).toBe(200);
  const me = await t.request("GET", "/v1/auth/me", undefined, {
    authorization: `Bearer ${(fresh.json as { token: string }).token}`,
  });
  expect(me.status).toBe(200);
});
