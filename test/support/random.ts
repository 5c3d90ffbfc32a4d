import { randomBytes } from "node:crypto";

/** mulberry32: a small seeded PRNG in [0, 1), so the same seed replays the same run. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh address; `tag` makes failures readable. */
export function uniqueEmail(tag: string): string {
  return `${tag}-${randomBytes(5).toString("hex")}@example.com`;
}

let clients = 0;

/**
 * A client address no earlier call returned, so that per-address limits spent in one test never
 * reach another. Taken from 100.64.0.0/10, which no test names on its own.
 */
export function freshIp(): string {
  const n = clients++;
  return `100.${64 + Math.floor(n / 62_500)}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
}
