import { randomUUID } from "node:crypto";
import type { Server } from "bun";

const ids = new WeakMap<Request, string>();

/** The request's id: the caller's X-Request-Id when it is a sane token, else a new one. */
export function requestIdOf(request: Request): string {
  let id = ids.get(request);
  if (id === undefined) {
    const given = request.headers.get("x-request-id");
    id = given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
    ids.set(request, id);
  }
  return id;
}

/** The client's address: the socket's, or the first X-Forwarded-For hop behind a trusted proxy. */
export function clientIpOf(
  request: Request,
  server: Server<unknown> | null,
  trustProxy: boolean,
): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded;
  }
  return server?.requestIP(request)?.address ?? "unknown";
}

export interface ClientInfo {
  ip: string;
  userAgent: string;
  httpRequestId: string;
}

/** Who is asking: address, user agent (bounded), and the request id for the log and events. */
export function clientOf(
  request: Request,
  server: Server<unknown> | null,
  trustProxy: boolean,
): ClientInfo {
  return {
    ip: clientIpOf(request, server, trustProxy),
    userAgent: (request.headers.get("user-agent") ?? "").slice(0, 512),
    httpRequestId: requestIdOf(request),
  };
}
