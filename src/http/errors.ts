/** An error a client caused: answered with its status and the documented message, never logged. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const invalidBody = () => new HttpError(400, "invalid request body");

export const tooManyRequests = (retryAfterSeconds: number) =>
  new HttpError(429, "too many requests", {
    "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))),
  });

export function errorResponse(
  status: number,
  message: string,
  headers: Record<string, string> = {},
) {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
