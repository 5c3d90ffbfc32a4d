import { HttpError, invalidBody } from "./errors";

export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Reads a JSON object body: a JSON content type, at most 16 KiB (413 beyond), parseable, and an
 * object. Anything else is the API's documented 400 — never a framework default.
 */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, "request body too large");
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/json") throw invalidBody();

  const bytes = await readLimited(request);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw invalidBody();
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw invalidBody();
  return parsed as Record<string, unknown>;
}

async function readLimited(request: Request): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "request body too large");
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
