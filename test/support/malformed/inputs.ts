/**
 * What the malformed-input tests make their requests of: a seeded PRNG (FUZZ_SEED replays a run),
 * hostile strings, values of the wrong JSON type, invalid and unknown addresses, passwords that
 * break the README's rules, semantically invalid bodies per JSON route, odd headers and
 * authorization variants. Every generator takes the Rng, so a seed gives the same requests.
 */
import { PASSWORD } from "../e2e";
import { mulberry32 } from "../random";

export const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f00d) >>> 0;
export const AUDIT_TOKEN = "fuzz-audit-token-0123456789abcdef";
/** The one registered account: every generated request about it must still fail. */
export const REAL_EMAIL = "fuzz-real@example.com";
export const MAX_BODY = 16 * 1024;
export const JSON_TYPE = "application/json";

export function prng(seed: number) {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const chance = (p: number) => next() < p;
  const hex = (n: number) => Array.from({ length: n }, () => int(16).toString(16)).join("");
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
  return { next, int, pick, chance, hex, uuid };
}
export type Rng = ReturnType<typeof prng>;

/** Shuffled in place, so that every kind of request is in flight while the others are. */
export function shuffle<T>(r: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

export const SQL = [
  "' OR 1=1 --",
  '"; drop table events; --',
  "'; DELETE FROM events WHERE '1'='1",
  "1; TRUNCATE events CASCADE",
  "' UNION SELECT event_id, data FROM events --",
  "Robert'); DROP TABLE users;--",
  "$1::text; select pg_terminate_backend(pg_backend_pid())",
  "\\'; COPY events TO '/tmp/x'; --",
];
const WEIRD_STRINGS = [
  "",
  " ",
  "\t\r\n",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "😀",
  "\u202e\u200b\ufeff",
  "null",
  "undefined",
  "[object Object]",
  "__proto__",
  "constructor",
  "%00%0d%0a",
  "<script>alert(1)</script>",
  ["$", "{jndi:ldap://127.0.0.1/x}"].join(""),
  "../../../../etc/passwd",
  ...SQL,
];
/** JSON texts of values that are not strings. */
const NOT_STRINGS = [
  "null",
  "true",
  "false",
  "0",
  "-0",
  "-1",
  "1e308",
  "-1e308",
  "1e999",
  "1e-400",
  "123456789012345678901234567890123456789",
  "[]",
  '["fuzz-real@example.com"]',
  "{}",
  '{"$ne":null}',
  '{"$gt":""}',
  '{"__proto__":{"isAdmin":true}}',
  '{"toString":"x"}',
  "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
];

/** Addresses that are not valid after trimming and lower-casing. */
export function invalidEmail(r: Rng): string {
  return r.pick([
    () => r.pick(SQL),
    () => `${REAL_EMAIL}\r\nBcc: victim@example.com`,
    () => `${REAL_EMAIL}\nX-Injected: 1`,
    () => `fuzz-real\r\n@example.com`,
    () => `${REAL_EMAIL}\u0000`,
    () => `\u0000${REAL_EMAIL}`,
    () => "fuzz-real.example.com",
    () => "fuzz@real@example.com",
    () => "fuzz real@example.com",
    () => "@example.com",
    () => "fuzz-real@",
    () => "fuzz-real@localhost",
    () => "fuzz-real@example.c",
    () => `${"a".repeat(250)}@example.com`,
    () => `${"a".repeat(65)}@example.com`,
    () => `x@${"a".repeat(64)}.com`,
    () => "üser@exämple.com",
    () => "用户@例子.广告",
    () => "😀@example.com",
    () => "fuzz😀real@example.com",
    () => "ｆｕｚｚ@example.com",
    () => "fuzz-real@exam\u200bple.com",
    () => "fuzz\ud800@example.com",
    () => `${REAL_EMAIL}' OR 1=1 --`,
    () => `"; drop table events; --@example.com`,
    () => "fuzz-real@example.com<script>",
    () => "fuzz..real@example.com",
    () => ".fuzz@example.com",
    () => "fuzz@-example.com",
    () => `${"a".repeat(r.pick([300, 2000, 9000]))}`,
    () => `${r.hex(8)}@example.com'; drop table events; --`,
  ])();
}

/** Well-formed addresses of no account (some of them look hostile but are valid). */
export function unknownEmail(r: Rng): string {
  return r.pick([
    () => `nobody-${r.hex(6)}@example.com`,
    () => `'or'1'='1'--${r.hex(4)}@example.com`,
    () => `o'reilly+${r.hex(4)}@example.com`,
    () => `  NoBody-${r.hex(6)}@Example.COM\t`,
    () => `\ufeffnobody-${r.hex(6)}@example.com\u00a0`,
    () => `{drop}|table${r.hex(4)}@example.com`,
    () => `nobody-${r.hex(6)}@xn--bcher-kva.example`,
  ])();
}

/** Passwords that break a rule by construction: too short, too long, or a missing class. */
function invalidPassword(r: Rng): string {
  return r.pick([
    () => "Aa1!",
    () => "Sh0rt!",
    () => "\ud800Aa1!",
    () => `Aa1!${"x".repeat(253)}`,
    () => `Aa1!${"😀".repeat(300)}`,
    () => "alllowercase-and-no-digits!",
    () => "ALLUPPER1234!!",
    () => "NoDigitsHere!!",
    () => "NoSpecial1234",
    () => r.pick(SQL).replace(/\d/g, ""),
    () => "\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000",
    () => "        ",
  ])();
}

/** The README's password rules (API section), to keep junk passwords junk. */
function breaksPasswordRules(password: string): boolean {
  const length = [...password].length;
  return (
    length < 8 ||
    length > 256 ||
    !/\p{Lu}/u.test(password) ||
    !/\p{Ll}/u.test(password) ||
    !/\p{Nd}/u.test(password) ||
    !/[^\p{L}\p{Nd}]/u.test(password)
  );
}

/** A password field no rule accepts: another JSON type, or hostile text that breaks a rule. */
function junkPassword(r: Rng): string {
  return r.chance(0.5)
    ? r.pick(NOT_STRINGS)
    : JSON.stringify(r.pick(WEIRD_STRINGS.filter(breaksPasswordRules)));
}

/** A password every rule accepts (used only where another field makes the request fail). */
export const validPassword = (r: Rng) =>
  r.pick(["Fuzz-Passw0rd!", "Zz9!zzzzzz", "Ünïcødé-Pässw0rd", "Aa1!\ud800xyz"]);

/** A string field: hostile text, or a JSON value of another type. Returns JSON text. */
export function junkValue(r: Rng): string {
  return r.chance(0.5) ? r.pick(NOT_STRINGS) : JSON.stringify(r.pick(WEIRD_STRINGS));
}

export const q = (value: string) => JSON.stringify(value);
export const obj = (pairs: [string, string][]) =>
  `{${pairs.map(([k, v]) => `${q(k)}:${v}`).join(",")}}`;

/** Extra members that must change nothing: prototype keys and unknown fields. */
function extras(r: Rng): [string, string][] {
  if (!r.chance(0.35)) return [];
  return [
    r.pick<[string, string]>([
      ["__proto__", '{"email":"fuzz-real@example.com","password":"Reset-Passw0rd!","admin":true}'],
      ["constructor", '{"prototype":{"isAdmin":true}}'],
      ["prototype", "{}"],
      ["isAdmin", "true"],
      ["role", q("' OR 1=1 --")],
      ["$where", q("1==1")],
      ["toString", "null"],
      ["hasOwnProperty", "1"],
    ]),
  ];
}

export const JSON_ROUTES = {
  register: "/v1/auth/register",
  login: "/v1/auth/login",
  trigger: "/v1/auth/password-reset/trigger",
  reset: "/v1/auth/password-reset/reset",
} as const;
export type JsonRoute = keyof typeof JSON_ROUTES;

/** A semantically invalid body for the route, as JSON text. */
export function fieldBody(r: Rng, route: JsonRoute): string {
  const x = extras(r);
  switch (route) {
    case "trigger":
      return r.pick([
        () => obj(x),
        () => obj([["email", junkValue(r)], ...x]),
        () => obj([["email", q(invalidEmail(r))], ...x]),
        () => obj([["email", q(unknownEmail(r))], ...x]),
        () => obj([["Email", q(REAL_EMAIL)], ...x]),
        () => obj([["email ", q(REAL_EMAIL)]]),
        // Duplicate keys: the last one wins, and it is never the real address.
        () => `{"email":${q(REAL_EMAIL)},"email":${junkValue(r)}}`,
        () => `{"email":${q(REAL_EMAIL)},"email":${q(invalidEmail(r))}}`,
        () => obj([["email", `[${q(REAL_EMAIL)}]`]]),
        () => obj([["email", `{"value":${q(REAL_EMAIL)}}`]]),
      ])();
    case "register": {
      return r.pick([
        () => obj(x),
        () => obj([["email", q(REAL_EMAIL)], ...x]),
        () => obj([["password", q(validPassword(r))], ...x]),
        () => obj([["email", junkValue(r)], ["password", q(validPassword(r))], ...x]),
        () => obj([["email", q(unknownEmail(r))], ["password", junkPassword(r)], ...x]),
        () => obj([["email", q(invalidEmail(r))], ["password", q(validPassword(r))], ...x]),
        () => obj([["email", q(unknownEmail(r))], ["password", q(invalidPassword(r))], ...x]),
        // The registered address, any casing: 409, nothing appended.
        () =>
          obj([
            ["email", q(r.pick([REAL_EMAIL, REAL_EMAIL.toUpperCase(), ` ${REAL_EMAIL} `]))],
            ["password", q(validPassword(r))],
            ...x,
          ]),
        () =>
          `{"email":${q(unknownEmail(r))},"password":${q(validPassword(r))},"password":${q(invalidPassword(r))}}`,
      ])();
    }
    case "login": {
      return r.pick([
        () => obj(x),
        () => obj([["email", q(REAL_EMAIL)], ...x]),
        () => obj([["email", junkValue(r)], ["password", q(validPassword(r))], ...x]),
        () => obj([["email", q(REAL_EMAIL)], ["password", junkValue(r)], ...x]),
        // Never the real password: wrong ones, hostile ones, look-alikes.
        () =>
          obj([
            ["email", q(REAL_EMAIL)],
            [
              "password",
              q(
                r.pick([
                  r.pick(SQL),
                  PASSWORD.toLowerCase(),
                  `${PASSWORD} `,
                  `${PASSWORD}\u0000`,
                  "\ud800\udfff\ud800",
                  "x".repeat(5000),
                ]),
              ),
            ],
            ...x,
          ]),
        () => obj([["email", q(r.pick(SQL))], ["password", q(r.pick(SQL))], ...x]),
        () => obj([["email", q(invalidEmail(r))], ["password", q(validPassword(r))], ...x]),
        () => `{"email":${q(REAL_EMAIL)},"password":${q(PASSWORD)},"password":${junkValue(r)}}`,
      ])();
    }
    case "reset": {
      const code = () =>
        r.pick([
          () => q(r.pick(SQL)),
          () => q(r.hex(20).toUpperCase()),
          () => q("0000-0000-0000-0000-0000"),
          () => q("IIII-LLLL-OOOO-UUUU-IIII"),
          () => q(`${r.hex(4)}-${r.hex(4)}-${r.hex(4)}-${r.hex(4)}-${r.hex(4)}`),
          () => q("😀".repeat(20)),
          () => q("A".repeat(5000)),
          () => q("\u0000".repeat(20)),
        ])();
      const email = () =>
        r.pick([
          () => [] as [string, string][],
          () => [["email", q(REAL_EMAIL)]] as [string, string][],
          () => [["email", q(invalidEmail(r))]] as [string, string][],
          () => [["email", q(unknownEmail(r))]] as [string, string][],
          () => [["email", junkValue(r)]] as [string, string][],
        ])();
      return r.pick([
        () => obj(x),
        () => obj([["code", code()], ...x]),
        () => obj([["new_password", q(validPassword(r))], ...email(), ...x]),
        () => obj([["code", junkValue(r)], ["new_password", q(validPassword(r))], ...x]),
        () => obj([["code", code()], ["new_password", junkValue(r)], ...email(), ...x]),
        () => obj([["code", code()], ["new_password", q(invalidPassword(r))], ...email(), ...x]),
        () => obj([["code", code()], ["new_password", q(validPassword(r))], ...email(), ...x]),
        () => obj([["code", code()], ["newPassword", q(validPassword(r))], ...email()]),
      ])();
    }
  }
}

/** Odd but legal request headers that must change nothing about the answer. */
export function noiseHeaders(r: Rng): Record<string, string> {
  const headers: Record<string, string> = {};
  if (r.chance(0.4)) {
    headers["x-forwarded-for"] = r.pick([
      "",
      "not-an-ip",
      "999.999.999.999",
      "::1, evil",
      "127.0.0.1, 10.0.0.1, ' OR 1=1 --",
      "1.2.3.4, ".repeat(300),
      "\u00ff\u00fe",
      "'; drop table events; --",
      ",,,",
      "[::ffff:127.0.0.1]:80",
      `${r.int(256)}.${r.int(256)}.${r.int(256)}.${r.int(256)}`,
    ]);
  }
  if (r.chance(0.25)) {
    headers["user-agent"] = r.pick(["", "\u00ff".repeat(100), "A".repeat(2000), r.pick(SQL)]);
  }
  if (r.chance(0.2)) {
    headers["x-request-id"] = r.pick([
      "../../etc",
      "x".repeat(1000),
      "\u00ff",
      "a b c",
      r.pick(SQL),
    ]);
  }
  if (r.chance(0.05)) {
    Object.defineProperty(headers, "__proto__", { value: "x", enumerable: true, writable: true });
  }
  if (r.chance(0.15)) headers.accept = r.pick(["text/html", "application/xml", "*/*;q=0", ""]);
  if (r.chance(0.1))
    headers["accept-encoding"] = r.pick(["gzip, br, zstd", "bogus", "identity;q=0"]);
  return headers;
}

/** Authorization headers around `good` (a token, or none): missing, malformed, near misses. */
export function authorizationVariants(r: Rng, good: string | undefined): string | undefined {
  return r.pick([
    () => undefined,
    () => "",
    () => "Bearer",
    () => "Bearer ",
    () => `bearer ${good ?? r.hex(43)}`,
    () => `BEARER ${good ?? r.hex(43)}`,
    () => `Bearer  ${good ?? r.hex(43)}`,
    () => `Basic ${btoa(`api:${good ?? "x"}`)}`,
    () => `Token ${good ?? r.hex(43)}`,
    () => `Digest username="admin", response="${r.hex(32)}"`,
    () => `Bearer ${good ?? r.hex(43)}x`,
    () => `Bearer x${good ?? r.hex(43)}`,
    () => `Bearer ${(good ?? r.hex(43)).toUpperCase()}`,
    () => `Bearer ${(good ?? r.hex(43)).slice(0, -1)}`,
    () => `Bearer ${good ?? r.hex(43)}, Bearer ${good ?? r.hex(43)}`,
    () => `Bearer ${"a".repeat(r.pick([200, 201, 4096, 6000]))}`,
    () => `Bearer ${r.pick(SQL)}`,
    () => "Bearer null",
    () => "Bearer undefined",
    () => "Bearer __proto__",
    () => "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
    () => "Bearer \u00ff\u00fe\u00fd",
    () => `Bearer ${r.hex(43)}`,
  ])();
}
