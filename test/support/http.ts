/** The answer to one HTTP request, read once: status, headers, the raw body and its JSON. */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The raw body, exactly as received. */
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: unknown;
}

export async function readAnswer(response: Response): Promise<HttpAnswer> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export type Send = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<HttpAnswer>;

/** A client over an in-process app (createApp(runtime)).handle; nothing listens on a port. */
export function appClient(app: { handle(request: Request): Promise<Response> }): Send {
  return async (method, path, body, headers = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
    }
    return readAnswer(await app.handle(new Request(`http://localhost${path}`, init)));
  };
}
