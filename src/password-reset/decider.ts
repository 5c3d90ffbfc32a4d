import type {
  CodeRejectionReason,
  PasswordResetCodeRejected,
  PasswordResetCompleted,
  PasswordResetEvent,
  PasswordResetRejected,
  PasswordResetRequested,
  RateLimitName,
} from "../../events/password-reset";
import { gcra, limits, tatAfter, windowLimit } from "../rate-limits/gcra";

/**
 * What one email's reset stream says, as far as the rules need it. Folding an event costs the
 * same however long the stream is: the lists are shared between states, never copied whole.
 */
export interface ResetState {
  /** The attempts that count against the email's limits (time in ms, client), newest first. */
  attempts: Attempts;
  requests: Requests;
  /** The newest request: every earlier one is superseded. */
  latestRequestId: string | undefined;
}

/** An immutable list, newest first: adding one shares the rest. */
export type Attempts = { attempt: Attempt; earlier: Attempts } | undefined;

/** The attempts oldest first, as the limits take them. */
export function attemptsInOrder(attempts: Attempts): Attempt[] {
  const list: Attempt[] = [];
  for (let node = attempts; node !== undefined; node = node.earlier) list.push(node.attempt);
  return list.reverse();
}

function withAttempt(attempts: Attempts, at: number, ipHash: string): Attempts {
  const same = attempts?.attempt.ipHash === ipHash ? attempts.attempt.ipHash : ipHash;
  return { attempt: { at, ipHash: same }, earlier: attempts };
}

interface RequestNode {
  request: RequestState;
  earlier: RequestNode | undefined;
}

/**
 * The stream's requests by id, newest first, immutable: a new request or a change to the
 * newest one (what events almost always touch) shares the earlier ones; a superseded one
 * changes by copying only the newer ones in front of it.
 */
export class Requests {
  static readonly none = new Requests(undefined);

  private constructor(private readonly newest: RequestNode | undefined) {}

  get newestRequest(): RequestState | undefined {
    return this.newest?.request;
  }

  get(requestId: string): RequestState | undefined {
    for (let node = this.newest; node !== undefined; node = node.earlier)
      if (node.request.requestId === requestId) return node.request;
    return undefined;
  }

  /** The ids, oldest first. */
  keys(): string[] {
    const ids: string[] = [];
    for (let node = this.newest; node !== undefined; node = node.earlier)
      ids.push(node.request.requestId);
    return ids.reverse();
  }

  /** With `request` in place of the one of its id, or added as the newest. */
  with(request: RequestState): Requests {
    const newer: RequestState[] = [];
    let node = this.newest;
    while (node !== undefined && node.request.requestId !== request.requestId) {
      newer.push(node.request);
      node = node.earlier;
    }
    if (node === undefined) return new Requests({ request, earlier: this.newest });
    let rebuilt: RequestNode = { request, earlier: node.earlier };
    for (let i = newer.length - 1; i >= 0; i--)
      rebuilt = { request: newer[i] as RequestState, earlier: rebuilt };
    return new Requests(rebuilt);
  }
}

export interface Attempt {
  at: number;
  /** The client's address as a keyed hash; empty when the event did not record it. */
  ipHash: string;
}

/** What the rules use of a request, no more: a long stream's state is kept between commands. */
export interface RequestState {
  requestId: string;
  userId: string;
  expiresAt: number;
  outcome: "pending" | "sent" | "failed";
  /**
   * Wrong tries made with the account's email while this was the latest code, per client: a
   * stranger's guesses lock the code for the stranger, not for the owner at another address.
   */
  failedByIp: ReadonlyMap<string, number>;
  lockedFor: ReadonlySet<string>;
  used: boolean;
}

/** Wrong tries (with the email given) from one client that lock a code for that client. */
export const MAX_FAILED_ATTEMPTS = 5;

// Shared by every request with no wrong try yet: the first one replaces them, never changes them.
const NO_FAILURES: ReadonlyMap<string, number> = new Map();
const NOT_LOCKED: ReadonlySet<string> = new Set();

export const initialResetState = (): ResetState => ({
  attempts: undefined,
  requests: Requests.none,
  latestRequestId: undefined,
});

export function evolve(
  state: ResetState,
  event: PasswordResetEvent & { recordedAt: Date },
): ResetState {
  const at = event.recordedAt.getTime();
  switch (event.type) {
    case "PasswordResetRequested": {
      const { requestId, expiresAt } = event.data;
      const latest = state.requests.newestRequest;
      // Each event parses its own copies of the strings: a long stream keeps one of each.
      const userId = latest?.userId === event.data.userId ? latest.userId : event.data.userId;
      const requests = state.requests.with({
        requestId,
        userId,
        expiresAt: Date.parse(expiresAt),
        outcome: "pending",
        failedByIp: NO_FAILURES,
        lockedFor: NOT_LOCKED,
        used: false,
      });
      return {
        attempts: withAttempt(state.attempts, at, event.data.ipHash ?? ""),
        requests,
        latestRequestId: requestId,
      };
    }
    case "PasswordResetRejected":
      // Attempts on unknown emails count too, so the limits hold for them; refusals do not.
      return event.data.reason === "unknown_email"
        ? {
            ...state,
            attempts: withAttempt(state.attempts, at, event.data.ipHash),
          }
        : state;
    case "PasswordResetRefusalsCounted":
      return state;
    case "PasswordResetEmailSent":
    case "PasswordResetEmailFailed": {
      const request = state.requests.get(event.data.requestId);
      if (!request) return state;
      return withRequest(state, {
        ...request,
        outcome: event.type === "PasswordResetEmailSent" ? "sent" : "failed",
      });
    }
    case "PasswordResetCodeRejected": {
      const { requestId, failedAttempts, locked, ipHash } = event.data;
      const request = requestId === undefined ? undefined : state.requests.get(requestId);
      if (!request || failedAttempts === undefined) return state;
      const failedByIp = new Map(request.failedByIp).set(ipHash, failedAttempts);
      const lockedFor = locked ? new Set(request.lockedFor).add(ipHash) : request.lockedFor;
      return withRequest(state, { ...request, failedByIp, lockedFor });
    }
    case "PasswordResetCompleted": {
      const request = state.requests.get(event.data.requestId);
      return request ? withRequest(state, { ...request, used: true }) : state;
    }
    default:
      // Delivery reports arrive after the outcome and change nothing a decision rests on.
      return state;
  }
}

function withRequest(state: ResetState, request: RequestState): ResetState {
  return { ...state, requests: state.requests.with(request) };
}

export interface TriggerPasswordReset {
  type: "TriggerPasswordReset";
  requestId: string;
  now: number;
  ipHash: string;
  /** The account found for the email, with the sealed values prepared for it; null if none. */
  account: null | PreparedAccount;
  /**
   * Conceal mode, no account: the same values prepared under a throwaway key, so an unknown
   * email costs what a known one does; its rejection is padded to that request's size.
   */
  decoy?: PreparedAccount;
  codeTtlMs: number;
  dispatchWindowMs: number;
  rateLimits: boolean;
}

/** What a request carries for its account: the code's hash and seals, made before deciding. */
export type PreparedAccount = Omit<
  PasswordResetRequested["data"],
  "requestId" | "expiresAt" | "dispatchDeadline"
>;

export type TriggerDecision =
  | { outcome: "requested"; events: [PasswordResetRequested] }
  | { outcome: "unknown_email"; events: [PasswordResetRejected] }
  | { outcome: "rate_limited"; retryAfterSeconds: number; events: [PasswordResetRejected] };

/** Per-email limits first (they hold for unknown emails too), then the account, then the code. */
export function decideTrigger(command: TriggerPasswordReset, state: ResetState): TriggerDecision {
  const { requestId, now, ipHash } = command;
  if (command.rateLimits) {
    const limited = emailLimit(attemptsInOrder(state.attempts), ipHash, now);
    if (limited) {
      const retryAfterSeconds = Math.max(1, Math.ceil(limited.retryAfterMs / 1000));
      return {
        outcome: "rate_limited",
        retryAfterSeconds,
        events: [
          rejected({
            requestId,
            reason: "rate_limited",
            limit: limited.limit,
            retryAfterSeconds,
            ipHash,
          }),
        ],
      };
    }
  }
  const { account, decoy } = command;
  if (account === null) {
    const rejection = rejected({ requestId, reason: "unknown_email", ipHash });
    return {
      outcome: "unknown_email",
      events: [decoy ? paddedTo(rejection, requested(command, decoy)) : rejection],
    };
  }
  return { outcome: "requested", events: [requested(command, account)] };
}

function requested(
  command: TriggerPasswordReset,
  account: PreparedAccount,
): PasswordResetRequested {
  const { requestId, now, ipHash } = command;
  return {
    type: "PasswordResetRequested",
    data: {
      requestId,
      ...account,
      ipHash,
      expiresAt: new Date(now + command.codeTtlMs).toISOString(),
      dispatchDeadline: new Date(now + command.dispatchWindowMs).toISOString(),
    },
  };
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** The rejection with `padding`, its data as many JSON bytes as the request's. */
export function paddedTo(
  rejection: PasswordResetRejected,
  request: PasswordResetRequested,
): PasswordResetRejected {
  const bare = jsonBytes({ ...rejection.data, padding: "" });
  const padding = "0".repeat(Math.max(0, jsonBytes(request.data) - bare));
  return rejected({ ...rejection.data, padding });
}

export function rejectionFor(
  requestId: string,
  ipHash: string,
  limit: RateLimitName,
  retryAfterSeconds: number,
): PasswordResetRejected {
  return rejected({ requestId, reason: "rate_limited", limit, retryAfterSeconds, ipHash });
}

function rejected(data: PasswordResetRejected["data"]): PasswordResetRejected {
  return { type: "PasswordResetRejected", data };
}

/**
 * The per-email trigger limits (times in ms, oldest first). The burst is per email and client, so
 * strangers cannot spend the owner's; the hourly cap spans every client, except that a client
 * with no attempt for this email in the hour still gets one: strangers cannot deny the owner (at
 * their own address) a code, and each stranger's address adds at most one email an hour past it.
 */
export function emailLimit(
  attempts: readonly Attempt[],
  ipHash: string,
  now: number,
): { limit: RateLimitName; retryAfterMs: number } | undefined {
  const { max, windowMs } = limits.triggerPerEmailHourly;
  const fromHere = attempts.filter((a) => a.ipHash === ipHash).map((a) => a.at);
  const recentHere = fromHere.filter((at) => at > now - windowMs);
  if (recentHere.length > 0) {
    const hourly = windowLimit(
      max,
      windowMs,
      attempts.map((a) => a.at),
      now,
    );
    if (!hourly.allowed) {
      // Whichever comes first: room under the cap, or this client being new to the email again.
      const fresh = (recentHere.at(-1) ?? now) + windowMs - now;
      return { limit: "email_hourly", retryAfterMs: Math.min(hourly.retryAfterMs, fresh) };
    }
  }
  const burst = gcra(limits.triggerPerEmail, tatAfter(limits.triggerPerEmail, fromHere), now);
  if (!burst.allowed) return { limit: "email_burst", retryAfterMs: burst.retryAfterMs };
  return undefined;
}

/** How far back the rules look: the service reads only this much of a long stream's history. */
export const HISTORY_WINDOW_MS = limits.triggerPerEmailHourly.windowMs;

export interface ResetPassword {
  type: "ResetPassword";
  now: number;
  ipHash: string;
  /** The request whose code matched (by keyed hash), or null when the code matched none here. */
  codeRequestId: string | null;
  /** Whether the caller named the account: only then do wrong tries count toward the lock. */
  emailGiven: boolean;
  /** Seals for the completion, prepared for the account the code belongs to. */
  sealedIp: string;
  sealedUserAgent: string;
}

export type ResetDecision =
  | { outcome: "completed"; userId: string; requestId: string; events: [PasswordResetCompleted] }
  | { outcome: "rejected"; reason: CodeRejectionReason; events: [PasswordResetCodeRejected] };

/**
 * A code is good once: it must be the latest, unexpired, unused and unlocked. With the email
 * given, every failure counts against the latest code, and the fifth locks it for good.
 */
export function decideReset(command: ResetPassword, state: ResetState): ResetDecision {
  const named =
    command.codeRequestId === null ? undefined : state.requests.get(command.codeRequestId);
  const latest =
    state.latestRequestId === undefined ? undefined : state.requests.get(state.latestRequestId);

  let reason: CodeRejectionReason | undefined;
  if (!named)
    reason =
      command.codeRequestId === null
        ? command.emailGiven
          ? "wrong_code"
          : "unknown_code"
        : "expired";
  else if (
    named.lockedFor.has(command.ipHash) ||
    (command.emailGiven && latest?.lockedFor.has(command.ipHash))
  )
    reason = "locked";
  else if (named.used) reason = "used";
  else if (named.requestId !== latest?.requestId) reason = "superseded";
  else if (command.now >= named.expiresAt) reason = "expired";
  // Only a code whose email is recorded as sent works: a failed or unknown dispatch leaves it dead.
  else if (named.outcome !== "sent") reason = "undelivered";

  if (reason === undefined && named) {
    return {
      outcome: "completed",
      userId: named.userId,
      requestId: named.requestId,
      events: [
        {
          type: "PasswordResetCompleted",
          data: {
            requestId: named.requestId,
            userId: named.userId,
            sealedIp: command.sealedIp,
            sealedUserAgent: command.sealedUserAgent,
          },
        },
      ],
    };
  }
  const rejection = reason ?? "unknown_code";
  const counts =
    command.emailGiven && latest && !latest.used && !latest.lockedFor.has(command.ipHash);
  const failed = counts ? (latest.failedByIp.get(command.ipHash) ?? 0) + 1 : 0;
  const data: PasswordResetCodeRejected["data"] = counts
    ? {
        requestId: latest.requestId,
        reason: rejection,
        failedAttempts: failed,
        ...(failed >= MAX_FAILED_ATTEMPTS ? { locked: true } : {}),
        ipHash: command.ipHash,
      }
    : {
        ...(named ? { requestId: named.requestId } : {}),
        reason: rejection,
        ipHash: command.ipHash,
      };
  return {
    outcome: "rejected",
    reason: rejection,
    events: [{ type: "PasswordResetCodeRejected", data }],
  };
}
