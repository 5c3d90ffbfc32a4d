import type { SendOutcome } from "./mailer";

// Failures before any byte of the request could reach the receiver: surely not taken.
const NOT_CONNECTED_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ConnectionRefused",
]);

/**
 * One POST of an email to an HTTP transport, bounded by `timeoutMs` (the answer's body is read
 * under the same signal, so a slowly dripping answer is bounded too); never throws. `answer`
 * reads a completed response; a failure before connecting is surely not taken, one after
 * (a timeout, a cut connection) may have been.
 */
export async function postWithin(
  url: string,
  request: { headers: Record<string, string>; body: string | FormData },
  timeoutMs: number,
  answer: (response: Response, body: string) => SendOutcome,
): Promise<SendOutcome> {
  const timeout = Math.floor(timeoutMs);
  if (!(timeout > 0)) return { ok: false, retryable: true, reason: "timeout" };
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeout);
  try {
    const response = await fetch(url, { method: "POST", ...request, signal: abort.signal });
    return answer(response, await response.text());
  } catch (error) {
    if (timedOut) return { ok: false, retryable: true, reason: "timeout", maybeSent: true };
    const code = (error as { code?: unknown } | undefined)?.code;
    return typeof code === "string" && NOT_CONNECTED_CODES.has(code)
      ? { ok: false, retryable: true, reason: "network", maybeSent: false, notTaken: true }
      : { ok: false, retryable: true, reason: "network", maybeSent: true };
  } finally {
    clearTimeout(timer);
  }
}
