/**
 * Malformed input against every route of a real server process: hundreds of generated requests
 * (seeded, so a failure replays with FUZZ_SEED) with wrong JSON types, broken encodings, hostile
 * strings, odd headers and bad query strings. Every answer must be a 4xx with the documented
 * `{"error": string}` JSON body and nothing of a stack trace or Elysia's validation body; the
 * server must stay up, and the fuzz must leave nothing in the log but rejection events.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { onPostgres } from "../support/database";
import {
  createDeployment,
  type Deployment,
  mapWithConcurrency,
  PASSWORD,
  register,
} from "../support/e2e";
import type { ServerProcess } from "../support/server";

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f00d) >>> 0;
const AUDIT_TOKEN = "fuzz-audit-token-0123456789abcdef";
const REAL_EMAIL = "fuzz-real@example.com";
const MAX_BODY = 16 * 1024;
const IN_FLIGHT = 8;
/** The only event types a request the server rejects may append. */
const REJECTIONS = ["PasswordResetRejected", "PasswordResetCodeRejected"];

// ---------------------------------------------------------------------------------------------
// A small seeded PRNG (mulberry32): the same seed gives the same requests.

function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const chance = (p: number) => next() < p;
  const hex = (n: number) => Array.from({ length: n }, () => int(16).toString(16)).join("");
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
  return { next, int, pick, chance, hex, uuid };
}
type Rng = ReturnType<typeof prng>;

// ---------------------------------------------------------------------------------------------
// Hostile values.

const SQL = [
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
function invalidEmail(r: Rng): string {
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
function unknownEmail(r: Rng): string {
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
const validPassword = (r: Rng) =>
  r.pick(["Fuzz-Passw0rd!", "Zz9!zzzzzz", "Ünïcødé-Pässw0rd", "Aa1!\ud800xyz"]);

/** A string field: hostile text, or a JSON value of another type. Returns JSON text. */
function junkValue(r: Rng): string {
  return r.chance(0.5) ? r.pick(NOT_STRINGS) : JSON.stringify(r.pick(WEIRD_STRINGS));
}

const q = (value: string) => JSON.stringify(value);
const obj = (pairs: [string, string][]) => `{${pairs.map(([k, v]) => `${q(k)}:${v}`).join(",")}}`;

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

// ---------------------------------------------------------------------------------------------
// Cases.

interface Case {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** The exact status when it is certain; otherwise any 4xx. */
  status?: number;
  /** The exact error message when it is certain. */
  error?: string;
  /** A valid request by design (health with odd headers): 200 and the health body. */
  healthy?: boolean;
}

const JSON_ROUTES = {
  register: "/v1/auth/register",
  login: "/v1/auth/login",
  trigger: "/v1/auth/password-reset/trigger",
  reset: "/v1/auth/password-reset/reset",
} as const;
type JsonRoute = keyof typeof JSON_ROUTES;

/** A semantically invalid body for the route, as JSON text. */
function fieldBody(r: Rng, route: JsonRoute): string {
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

const enc = new TextEncoder();
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
function utf16(text: string, littleEndian: boolean, bom: boolean): Uint8Array {
  const out = new Uint8Array((text.length + (bom ? 1 : 0)) * 2);
  const view = new DataView(out.buffer);
  let at = 0;
  if (bom) {
    view.setUint16(0, 0xfeff, littleEndian);
    at = 2;
  }
  for (let i = 0; i < text.length; i++, at += 2)
    view.setUint16(at, text.charCodeAt(i), littleEndian);
  return out;
}

const JSON_TYPE = "application/json";
const WRONG_TYPES = [
  undefined,
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/jsonx",
  "application/json-patch+json",
  "application/ld+json",
  "application/json, text/plain",
  "json",
  "application/javascript",
  "text/json",
  "*/*",
  "application/\u00ff",
];

/** Odd but legal request headers that must change nothing about the answer. */
function noiseHeaders(r: Rng): Record<string, string> {
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

const sizeOf = (body: string | Uint8Array | undefined) =>
  body === undefined ? 0 : typeof body === "string" ? enc.encode(body).length : body.length;

/** A JSON route's case; whatever the mutation, a body over 16 KiB must be answered 413 first. */
function jsonRouteCase(r: Rng, route: JsonRoute, index: number): Case {
  const c = mutatedJsonCase(r, route, index);
  return sizeOf(c.body) > MAX_BODY ? { ...c, status: 413, error: "request body too large" } : c;
}

/** Wraps a semantically invalid body in a transport-level mutation. */
function mutatedJsonCase(r: Rng, route: JsonRoute, index: number): Case {
  const path = JSON_ROUTES[route];
  const headers = noiseHeaders(r);
  const raw = fieldBody(r, route);
  const base = { method: "POST", path, headers };
  const invalid = { status: 400, error: "invalid request body" };
  const mutation = r.pick([
    "plain",
    "plain",
    "plain",
    "plain",
    "plain",
    "plain",
    "truncated",
    "wrong-type",
    "invalid-utf8",
    "utf16",
    "utf8-bom",
    "nul",
    "oversize",
    "at-limit",
    "deep",
    "not-object",
    "trailing",
  ]);
  const name = `${route} #${index} ${mutation}: ${raw.slice(0, 80)}`;
  headers["content-type"] = r.chance(0.1) ? "Application/JSON; charset=utf-8" : JSON_TYPE;
  switch (mutation) {
    case "truncated":
      return { ...base, name, body: raw.slice(0, 1 + r.int(raw.length - 1)), ...invalid };
    case "wrong-type": {
      const type = r.pick(WRONG_TYPES);
      if (type === undefined) delete headers["content-type"];
      else headers["content-type"] = type;
      return { ...base, name: `${name} as ${type}`, body: raw, ...invalid };
    }
    case "invalid-utf8": {
      const bytes = enc.encode(raw);
      const bad = r.pick([
        [0xff],
        [0xc0, 0x80],
        [0xed, 0xa0, 0x80],
        [0xf8, 0x88, 0x80, 0x80, 0x80],
        [0x80],
      ]);
      const at = 1 + r.int(Math.max(1, bytes.length - 2));
      return {
        ...base,
        name,
        body: concat(bytes.slice(0, at), Uint8Array.from(bad), bytes.slice(at)),
        ...invalid,
      };
    }
    case "utf16": {
      const le = r.chance(0.5);
      const bom = r.chance(0.7);
      return {
        ...base,
        name: `${name} utf16${le ? "le" : "be"}${bom ? "+bom" : ""}`,
        body: utf16(raw, le, bom),
        ...invalid,
      };
    }
    case "utf8-bom":
      // The UTF-8 BOM is dropped by the decoder; the body stays semantically invalid.
      return { ...base, name, body: concat(Uint8Array.from([0xef, 0xbb, 0xbf]), enc.encode(raw)) };
    case "nul": {
      const at = r.int(raw.length + 1);
      return { ...base, name, body: `${raw.slice(0, at)}\u0000${raw.slice(at)}`, ...invalid };
    }
    case "oversize": {
      const target = r.pick([
        MAX_BODY + 1,
        MAX_BODY + 2,
        MAX_BODY + 100,
        20_000,
        64 * 1024,
        1024 * 1024,
      ]);
      return {
        ...base,
        name: `${name} (${target} bytes)`,
        body: padTo(raw, target),
        status: 413,
        error: "request body too large",
      };
    }
    case "at-limit": {
      // At or just under the limit: not 413, whatever else is wrong.
      const target = r.pick([MAX_BODY, MAX_BODY - 1, MAX_BODY - 100]);
      return { ...base, name: `${name} (${target} bytes)`, body: padTo(raw, target) };
    }
    case "deep": {
      const depth = r.pick([64, 512, 4000, 8000]);
      const wrapped = r.chance(0.5)
        ? `{"email":${"[".repeat(depth)}${"]".repeat(depth)}, "x":${raw}}`
        : `${"[".repeat(depth)}${raw}${"]".repeat(depth)}`;
      return { ...base, name: `${name} (depth ${depth})`, body: wrapped };
    }
    case "not-object":
      return {
        ...base,
        name,
        body: r.pick([
          "[]",
          `[${raw}]`,
          q(REAL_EMAIL),
          "null",
          "42",
          "true",
          '""',
          "",
          " ",
          "1e999",
          `"${raw}"`,
        ]),
        ...invalid,
      };
    case "trailing":
      return {
        ...base,
        name,
        body: `${raw}${r.pick(["}", ",", " x", "{}", "\u0000", "//", "/*"])}`,
        ...invalid,
      };
    default:
      return { ...base, name, body: raw };
  }
}

/** The body padded with a junk member to exactly `bytes` UTF-8 bytes (raw must be an object). */
function padTo(raw: string, bytes: number): string {
  const inner = raw.trim();
  if (!inner.startsWith("{") || !inner.endsWith("}"))
    return raw + " ".repeat(Math.max(0, bytes - enc.encode(raw).length));
  const head = inner === "{}" ? '{"pad":"' : `{"pad":"`;
  const tail = inner === "{}" ? '"}' : `",${inner.slice(1)}`;
  const room = bytes - enc.encode(head).length - enc.encode(tail).length;
  if (room < 0) return raw;
  return `${head}${"x".repeat(room)}${tail}`;
}

function authorizationVariants(r: Rng, good: string | undefined): string | undefined {
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

function meCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  const auth = authorizationVariants(r, undefined);
  if (auth !== undefined) headers.authorization = auth;
  if (r.chance(0.15)) {
    const method = r.pick(["POST", "PUT", "DELETE", "PATCH"]);
    headers["content-type"] = JSON_TYPE;
    return {
      name: `me #${index} ${method}`,
      method,
      path: "/v1/auth/me",
      headers,
      body: fieldBody(r, "login"),
    };
  }
  const query = r.chance(0.2) ? `?token=${encodeURIComponent(r.pick(SQL))}` : "";
  return {
    name: `me #${index}: ${auth?.slice(0, 60)}`,
    method: "GET",
    path: `/v1/auth/me${query}`,
    headers,
    status: 401,
    error: "unauthorized",
  };
}

/** Audit query strings of which at least one parameter is invalid. */
function badAuditQuery(r: Rng): string {
  const bad = r.pick([
    "limit=0",
    "limit=1001",
    "limit=-1",
    "limit=1e3",
    "limit=10.5",
    "limit=",
    "limit=%FF",
    "limit=1&limit=2",
    "limit=99999999999999999999",
    "after=-1",
    "after=1.5",
    "after=abc",
    "after=9999999999999999",
    "after=",
    "after=1&after=2",
    "after=999999999",
    `after=${encodeURIComponent("1; drop table events")}`,
    "user_id=not-a-uuid",
    `user_id=${encodeURIComponent("' OR 1=1 --")}`,
    "user_id=00000000-0000-0000-0000-00000000000g",
    "user_id=%00",
    "email=",
    `email=${encodeURIComponent("' OR 1=1 --")}`,
    `email=${encodeURIComponent('"; drop table events; --')}`,
    "email=%E0%A4%A",
    "email=%",
    `email=${encodeURIComponent(`${REAL_EMAIL}\r\nx`)}`,
    "email=a@b&email=c@d",
    "type=",
    `type=${encodeURIComponent("' OR 1=1 --")}`,
    "type=Password%20Reset",
    `type=${"A".repeat(65)}`,
    Array.from({ length: 33 }, () => "type=X").join("&"),
    "type=PasswordResetRequested&type=%00",
    "from=yesterday",
    "from=2024-13-01",
    "from=2024-01-01T25:99:99Z",
    "from=2024-01-01T12:00+99:99",
    "from=0",
    "from=1700000000",
    `from=${encodeURIComponent("2024-01-01'; drop table events; --")}`,
    "to=now",
    "to=2024-00-10",
    "to=9999-99-99",
    "to=2024-01-01&to=2024-01-02",
  ]);
  const harmless = r.pick([
    "",
    "limit=5&",
    "type=PasswordResetRequested&",
    "after=0&",
    "__proto__=x&",
    "constructor=prototype&",
    "__proto__[isAdmin]=1&",
  ]);
  return `?${harmless}${bad}`;
}

function auditEventsCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  const kind = r.pick([
    "bad-token",
    "bad-token",
    "good-token",
    "good-token",
    "good-token",
    "wrong-method",
  ]);
  if (kind === "wrong-method") {
    const method = r.pick(["POST", "PUT", "DELETE", "PATCH"]);
    headers.authorization = `Bearer ${AUDIT_TOKEN}`;
    headers["content-type"] = JSON_TYPE;
    return {
      name: `audit events #${index} ${method}`,
      method,
      path: "/v1/audit/events",
      headers,
      body: "{}",
    };
  }
  if (kind === "bad-token") {
    const auth = authorizationVariants(r, AUDIT_TOKEN);
    if (auth !== undefined) headers.authorization = auth;
    const query = r.chance(0.5)
      ? badAuditQuery(r)
      : r.pick(["", "?limit=5", `?email=${REAL_EMAIL}`]);
    return {
      name: `audit events #${index} token ${auth?.slice(0, 40)} ${query}`,
      method: "GET",
      path: `/v1/audit/events${query}`,
      headers,
      status: 401,
      error: "unauthorized",
    };
  }
  headers.authorization = `Bearer ${AUDIT_TOKEN}`;
  const query = badAuditQuery(r);
  return {
    name: `audit events #${index} ${query}`,
    method: "GET",
    path: `/v1/audit/events${query}`,
    headers,
    status: 400,
  };
}

function auditDeleteCase(r: Rng, index: number, realUserId: string): Case {
  const headers = noiseHeaders(r);
  const good = r.chance(0.6);
  const auth = good ? `Bearer ${AUDIT_TOKEN}` : authorizationVariants(r, AUDIT_TOKEN);
  if (auth !== undefined) headers.authorization = auth;
  const id = good
    ? r.pick([
        "not-a-uuid",
        encodeURIComponent("' OR 1=1 --"),
        encodeURIComponent('"; drop table events; --'),
        "%00",
        "%FF",
        "%",
        "00000000-0000-0000-0000-00000000000",
        `${realUserId}x`,
        `${realUserId}%00`,
        `%20${realUserId}`,
        encodeURIComponent("__proto__"),
        "constructor",
        "a".repeat(1000),
        r.uuid(), // no such user: 404
        "00000000-0000-0000-0000-000000000000",
      ])
    : r.pick([realUserId, r.uuid(), "not-a-uuid"]);
  const method = r.chance(0.1) ? r.pick(["GET", "POST", "PUT"]) : "DELETE";
  return {
    name: `audit delete #${index} ${method} ${id.slice(0, 40)} token ${auth?.slice(0, 30)}`,
    method,
    path: `/v1/audit/users/${id}/personal-data`,
    headers,
    ...(method === "DELETE" && !good ? { status: 401, error: "unauthorized" } : {}),
  };
}

function healthCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  if (r.chance(0.3)) {
    // Valid by design: odd headers and an ignored query string change nothing.
    const auth = authorizationVariants(r, AUDIT_TOKEN);
    if (auth !== undefined) headers.authorization = auth;
    const query = r.pick(["", "?verbose=1", `?x=${encodeURIComponent(r.pick(SQL))}`, "?%FF=%FF"]);
    return {
      name: `health #${index} GET ${query}`,
      method: "GET",
      path: `/v1/health${query}`,
      headers,
      healthy: true,
    };
  }
  const method = r.pick(["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
  headers["content-type"] = r.pick([JSON_TYPE, "text/plain"]);
  const body =
    method === "OPTIONS"
      ? undefined
      : r.pick(["{}", "[", fieldBody(r, "trigger"), "x".repeat(20_000)]);
  return { name: `health #${index} ${method}`, method, path: "/v1/health", headers, body };
}

function unknownRouteCase(r: Rng, index: number): Case {
  const headers = noiseHeaders(r);
  const known = Object.values(JSON_ROUTES);
  const kind = r.pick(["unknown", "unknown", "wrong-method"]);
  if (kind === "wrong-method") {
    const path = r.pick([...known, "/v1/auth/me", "/v1/audit/events"]);
    const method =
      path.startsWith("/v1/auth/") && path !== "/v1/auth/me"
        ? r.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
        : r.pick(["PUT", "PATCH", "OPTIONS"]);
    return { name: `wrong method #${index} ${method} ${path}`, method, path, headers };
  }
  const path = r.pick([
    "/",
    "/v1",
    "/v1/",
    "/v2/auth/register",
    "/v1/auth/registerx",
    "/v1/auth/password-reset",
    "/v1/auth/password-reset/triggers",
    "/v1/healthz",
    "/v1/audit",
    "/v1/audit/events/1",
    "/v1/audit/users",
    "/v1/audit/users/x",
    "/v1/auth/me/x",
    "/admin",
    "/.env",
    "/%00",
    "/%FF%FE",
    `/v1/${encodeURIComponent("' OR 1=1 --")}`,
    `/v1/${"a".repeat(4000)}`,
    "/__proto__",
    "/constructor/prototype",
    "/v1/auth/%2e%2e/%2e%2e/etc/passwd",
    `/nope-${r.hex(8)}`,
  ]);
  const method = r.pick(["GET", "POST", "PUT", "DELETE", "PATCH"]);
  const withBody = method !== "GET";
  if (withBody) headers["content-type"] = JSON_TYPE;
  return {
    name: `unknown #${index} ${method} ${path.slice(0, 60)}`,
    method,
    path,
    headers,
    body: withBody ? r.pick(["{}", fieldBody(r, "register"), "x".repeat(20_000)]) : undefined,
    status: 404,
    error: "not found",
  };
}

function generateCases(seed: number, realUserId: string): Case[] {
  const r = prng(seed);
  const cases: Case[] = [];
  const add = (n: number, make: (i: number) => Case) => {
    for (let i = 0; i < n; i++) cases.push(make(i));
  };
  add(130, (i) => jsonRouteCase(r, "trigger", i));
  add(90, (i) => jsonRouteCase(r, "register", i));
  add(50, (i) => jsonRouteCase(r, "login", i));
  add(100, (i) => jsonRouteCase(r, "reset", i));
  add(40, (i) => meCase(r, i));
  add(70, (i) => auditEventsCase(r, i));
  add(40, (i) => auditDeleteCase(r, i, realUserId));
  add(25, (i) => healthCase(r, i));
  add(50, (i) => unknownRouteCase(r, i));
  // The size boundary on every JSON route, exactly.
  for (const route of Object.keys(JSON_ROUTES) as JsonRoute[]) {
    const raw = obj([["email", "1"]]);
    for (const [bytes, status] of [
      [MAX_BODY, undefined],
      [MAX_BODY + 1, 413],
    ] as const) {
      cases.push({
        name: `${route} boundary ${bytes} bytes`,
        method: "POST",
        path: JSON_ROUTES[route],
        headers: { "content-type": JSON_TYPE },
        body: padTo(raw, bytes),
        ...(status ? { status, error: "request body too large" } : {}),
      });
    }
  }
  // Shuffle so that every route is hit while the others are in flight.
  for (let i = cases.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [cases[i], cases[j]] = [cases[j] as Case, cases[i] as Case];
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Checks.

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function send(baseUrl: string, c: Case): Promise<Answer> {
  const response = await fetch(`${baseUrl}${c.path}`, {
    method: c.method,
    headers: c.headers,
    body: c.body,
  });
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text: await response.text(),
  };
}

const FORBIDDEN = ["stack", "at /", '"type":"validation"', '"summary"'];

/** What is wrong with this answer to this case; undefined when nothing is. */
function problemWith(c: Case, a: Answer): string | undefined {
  if (FORBIDDEN.some((s) => a.text.includes(s))) return "a stack trace or framework body";
  if (c.healthy) {
    if (a.status !== 200) return `expected 200, got ${a.status}`;
    if (!a.contentType.startsWith("application/json")) return `content-type ${a.contentType}`;
    const body = parse(a.text) as { status?: unknown } | undefined;
    return body?.status === "ok" ? undefined : "not the health body";
  }
  if (a.status < 400 || a.status > 499) return `status ${a.status} is not a 4xx`;
  if (c.status !== undefined && a.status !== c.status)
    return `expected ${c.status}, got ${a.status}`;
  if (!a.contentType.startsWith("application/json")) return `content-type "${a.contentType}"`;
  const body = parse(a.text);
  if (
    typeof body !== "object" ||
    body === null ||
    Array.isArray(body) ||
    Object.keys(body).join() !== "error" ||
    typeof (body as { error: unknown }).error !== "string"
  ) {
    return "body is not exactly {error: string}";
  }
  const error = (body as { error: string }).error;
  if (c.error !== undefined && error !== c.error) return `expected "${c.error}", got "${error}"`;
  if (a.status === 413 && sizeOf(c.body) <= MAX_BODY) return `413 for ${sizeOf(c.body)} bytes`;
  return undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Event types appended after `after`: from the table on PostgreSQL, via the audit API embedded. */
async function typesAppendedAfter(
  deployment: Deployment,
  server: ServerProcess,
  after: number,
): Promise<string[]> {
  if (deployment.databaseUrl !== undefined) {
    const client = new pg.Client({ connectionString: deployment.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ type: string }>(
        "select type from events where global_position > $1 order by global_position",
        [after],
      );
      return rows.map((row) => row.type);
    } finally {
      await client.end();
    }
  }
  const types: string[] = [];
  let cursor = after;
  for (;;) {
    const page = await auditPage(server, cursor);
    types.push(...page.events.map((e) => e.type));
    if (page.next_after === null) return types;
    cursor = page.next_after;
  }
}

async function auditPage(server: ServerProcess, after: number) {
  const query = after > 0 ? `?limit=1000&after=${after}` : "?limit=1000";
  const res = await fetch(`${server.url}/v1/audit/events${query}`, {
    headers: { authorization: `Bearer ${AUDIT_TOKEN}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    events: { position: number; type: string }[];
    next_after: number | null;
  };
}

/** The newest global position now (after the setup registration). */
async function lastPosition(deployment: Deployment, server: ServerProcess): Promise<number> {
  if (deployment.databaseUrl !== undefined) {
    const client = new pg.Client({ connectionString: deployment.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ p: number | string }>(
        "select coalesce(max(global_position), 0) as p from events",
      );
      return Number(rows[0]?.p ?? 0);
    } finally {
      await client.end();
    }
  }
  let last = 0;
  for (;;) {
    const page = await auditPage(server, last);
    last = page.events.at(-1)?.position ?? last;
    if (page.next_after === null) return last;
  }
}

// ---------------------------------------------------------------------------------------------

describe(`malformed input on every route (${onPostgres ? "PostgreSQL" : "embedded"}, seed ${SEED})`, () => {
  let deployment: Deployment;
  let server: ServerProcess;
  let realUserId: string;
  let mark: number;

  beforeAll(async () => {
    deployment = await createDeployment({ AUDIT_TOKEN, TRUST_PROXY: "true" });
    server = await deployment.start();
    realUserId = (await register(server.url, REAL_EMAIL)).id;
    mark = await lastPosition(deployment, server);
  });
  afterAll(async () => {
    await deployment?.close();
  });

  test("hundreds of generated malformed requests: every answer a JSON 4xx, the server up, only rejections logged", async () => {
    const cases = generateCases(SEED, realUserId);
    expect(cases.length).toBeGreaterThanOrEqual(500);

    const problems: { case: string; problem: string; status: number; body: string }[] = [];
    const statuses = new Map<number, number>();
    const answers = new Map<string, number>();
    await mapWithConcurrency(cases, IN_FLIGHT, async (c) => {
      let answer: Answer;
      try {
        answer = await send(server.url, c);
      } catch (error) {
        problems.push({ case: c.name, problem: `no answer: ${error}`, status: 0, body: "" });
        return;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const answered = `${answer.status} ${answer.text.slice(0, 60)}`;
      answers.set(answered, (answers.get(answered) ?? 0) + 1);
      const problem = problemWith(c, answer);
      if (problem) {
        problems.push({
          case: c.name,
          problem,
          status: answer.status,
          body: answer.text.slice(0, 200),
        });
      }
    });

    // FUZZ_DUMP=1 shows what the run reached (answers by status and body).
    if (process.env.FUZZ_DUMP) {
      for (const [answer, n] of [...answers].sort()) console.log(`${n}\t${answer}`);
    }
    expect(problems).toEqual([]);
    // The generator reached the routes' own checks, not just the transport ones.
    for (const status of [400, 401, 404, 413]) expect(statuses.get(status) ?? 0).toBeGreaterThan(0);

    // Still up and answering.
    expect(server.process.exitCode).toBeNull();
    const health = await fetch(`${server.url}/v1/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe("ok");
    // Nothing leaked into the process: a fresh object has no polluted members.
    const after = await fetch(`${server.url}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": JSON_TYPE },
      body: "{}",
    });
    expect(await after.json()).toEqual({ error: "email and password are required" });

    // Only rejections were appended while the fuzz ran.
    const types = await typesAppendedAfter(deployment, server, mark);
    const unexpected = types.filter((type) => !REJECTIONS.includes(type));
    expect(unexpected).toEqual([]);
    expect(types.length).toBeGreaterThan(0);
  });

  // `new Date("2024-02-30")` would roll over to March 1 and filter from another day silently.
  test("audit from/to: an impossible calendar date (2024-02-30, 2023-02-29) is a 400, not rolled over", async () => {
    const queries = ["from=2024-02-30", "to=2023-02-29T10:00:00Z", "from=2024-04-31"];
    const answers = await Promise.all(
      queries.map(async (query) => {
        const res = await fetch(`${server.url}/v1/audit/events?${query}`, {
          headers: { authorization: `Bearer ${AUDIT_TOKEN}` },
        });
        const body = (await res.json()) as { error?: string; events?: unknown[] };
        return { query, status: res.status, error: body.error ?? `${body.events?.length} events` };
      }),
    );
    expect(answers).toEqual(
      queries.map((query) => ({
        query,
        status: 400,
        error: `invalid query parameter: ${query.split("=")[0]}`,
      })),
    );
  });

  test("headers over the runtime's limit are refused with a 4xx, and the server stays up", async () => {
    // Bun's HTTP parser refuses a request whose headers exceed its limit (16 KiB by default)
    // with 431 and an empty, untyped body before the app sees it: a known gap to the README's rule
    // that every error is JSON, outside what the app's code can answer.
    const res = await fetch(`${server.url}/v1/auth/me`, {
      headers: { authorization: `Bearer ${"a".repeat(64 * 1024)}` },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    await res.text();
    expect((await fetch(`${server.url}/v1/health`)).status).toBe(200);
  });
});
