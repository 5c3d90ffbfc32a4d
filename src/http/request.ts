import { randomUUID } from "node:crypto";
import type { Server } from "bun";

const ids = new WeakMap<Request, string>();

/** The request's id, always generated here: a client cannot make its request look like another's. */
export function requestIdOf(request: Request): string {
  let id = ids.get(request);
  if (id === undefined) {
    id = randomUUID();
    ids.set(request, id);
  }
  return id;
}

/** The caller's own X-Request-Id when it is a sane token: kept for support, never trusted. */
export function clientRequestIdOf(request: Request): string | undefined {
  const given = request.headers.get("x-request-id");
  return given && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : undefined;
}

/**
 * The client's address. With `trustedHops` proxies in front, each appends the address it saw to
 * X-Forwarded-For, so the client is the entry the outermost trusted proxy wrote: counted from the
 * right. Entries further left were written by the client and are never believed.
 */
export function clientIpOf(
  request: Request,
  server: Server<unknown> | null,
  trustedHops: number,
): string {
  const socket = server?.requestIP(request)?.address ?? "unknown";
  if (trustedHops <= 0) return socket;
  const hops = (request.headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  // Fewer entries than trusted proxies: the request did not come through all of them.
  return hops[hops.length - trustedHops] ?? socket;
}

export interface ClientInfo {
  ip: string;
  userAgent: string;
  /** The service's id of this HTTP request (also the correlation id of what it starts). */
  httpRequestId: string;
  /** What the client sent as X-Request-Id, if anything: an untrusted label. */
  clientRequestId: string | undefined;
}

/** Who is asking: address, user agent (bounded), and the request ids for the log and events. */
export function clientOf(
  request: Request,
  server: Server<unknown> | null,
  trustedHops: number,
): ClientInfo {
  return {
    ip: clientIpOf(request, server, trustedHops),
    userAgent: (request.headers.get("user-agent") ?? "").slice(0, 512),
    httpRequestId: requestIdOf(request),
    clientRequestId: clientRequestIdOf(request),
  };
}

/** Event metadata for what this request records: service-made ids, the client's id apart. */
export function requestMetadata(
  client: Pick<ClientInfo, "httpRequestId" | "clientRequestId">,
  correlationId: string = client.httpRequestId,
): { requestId: string; correlationId: string; clientRequestId?: string } {
  return {
    requestId: client.httpRequestId,
    correlationId,
    ...(client.clientRequestId === undefined ? {} : { clientRequestId: client.clientRequestId }),
  };
}
