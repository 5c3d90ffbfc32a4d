import { createHash } from "node:crypto";

/** A stable uuid for a name: the same logical event gets the same id on every retry. */
export function deterministicUuid(name: string): string {
  const h = createHash("sha256").update(name).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
