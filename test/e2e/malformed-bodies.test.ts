/**
 * Malformed bodies on the four JSON routes (trigger, register, login, reset) of a real server
 * process: semantically invalid fields (wrong JSON types, hostile strings, invalid or unknown
 * addresses, passwords that break the rules, prototype keys) wrapped in transport mutations
 * (truncated, wrong content type, broken encodings, NUL, oversize, deep nesting, not an object),
 * seeded so that a failure replays with FUZZ_SEED, and the 16 KiB size boundary exactly. Every
 * answer a JSON 4xx; the account's requests never succeed; only rejections reach the log.
 */
import { describe, expect, test } from "bun:test";
import { onPostgres } from "../support/database";
import { type Case, expectCasesRejected, sizeOf, useTarget } from "../support/malformed/harness";
import {
  fieldBody,
  JSON_ROUTES,
  JSON_TYPE,
  type JsonRoute,
  MAX_BODY,
  noiseHeaders,
  obj,
  prng,
  q,
  REAL_EMAIL,
  type Rng,
  SEED,
  shuffle,
} from "../support/malformed/inputs";

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

/** The size boundary on every JSON route, exactly: 16 KiB passes the size check, one byte more is 413. */
function boundaryCases(): Case[] {
  return (Object.keys(JSON_ROUTES) as JsonRoute[]).flatMap((route) =>
    (
      [
        [MAX_BODY, undefined],
        [MAX_BODY + 1, 413],
      ] as const
    ).map(([bytes, status]) => ({
      name: `${route} boundary ${bytes} bytes`,
      method: "POST",
      path: JSON_ROUTES[route],
      headers: { "content-type": JSON_TYPE },
      body: padTo(obj([["email", "1"]]), bytes),
      ...(status ? { status, error: "request body too large" } : {}),
    })),
  );
}

function generateCases(seed: number): Case[] {
  const r = prng(seed);
  const cases: Case[] = [];
  const add = (n: number, route: JsonRoute) => {
    for (let i = 0; i < n; i++) cases.push(jsonRouteCase(r, route, i));
  };
  add(130, "trigger");
  add(90, "register");
  add(50, "login");
  add(100, "reset");
  return shuffle(r, [...cases, ...boundaryCases()]);
}

describe(`malformed bodies on the JSON routes (${onPostgres ? "PostgreSQL" : "embedded"}, seed ${SEED})`, () => {
  const target = useTarget();

  test("hundreds of generated malformed bodies: every answer a JSON 4xx, the server up, only rejections logged", async () => {
    const cases = generateCases(SEED);
    expect(cases.length).toBe(378);
    // The generator reached the routes' own checks, not just the transport ones.
    const logged = await expectCasesRejected(target(), cases, [400, 401, 404, 413]);
    expect(logged.length).toBeGreaterThan(0);
  });
});
