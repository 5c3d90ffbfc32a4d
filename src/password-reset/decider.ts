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

/** What one email's reset stream says, as far as the rules need it. */
export interface ResetState {
  /** Times (ms) of the attempts that count against the email's limits, oldest first. */
  attempts: number[];
  requests: Map<string, RequestState>;
  /** The newest request: every earlier one is superseded. */
  latestRequestId: string | undefined;
}

export interface RequestState {
  requestId: string;
  userId: string;
  codeHash: string;
  expiresAt: number;
  dispatchDeadline: number;
  outcome: "pending" | "sent" | "failed";
  /** Wrong tries made with the account's email while this was the latest code. */
  failedAttempts: number;
  locked: boolean;
  used: boolean;
}

/** Wrong tries (with the email given) that lock a code. */
export const MAX_FAILED_ATTEMPTS = 5;

export const initialResetState = (): ResetState => ({
  attempts: [],
  requests: new Map(),
  latestRequestId: undefined,
});

export function evolve(
  state: ResetState,
  event: PasswordResetEvent & { recordedAt: Date },
): ResetState {
  const at = event.recordedAt.getTime();
  switch (event.type) {
    case "PasswordResetRequested": {
      const { requestId, userId, codeHash, expiresAt, dispatchDeadline } = event.data;
      const requests = new Map(state.requests);
      requests.set(requestId, {
        requestId,
        userId,
        codeHash,
        expiresAt: Date.parse(expiresAt),
        dispatchDeadline: Date.parse(dispatchDeadline),
        outcome: "pending",
        failedAttempts: 0,
        locked: false,
        used: false,
      });
      return { attempts: [...state.attempts, at], requests, latestRequestId: requestId };
    }
    case "PasswordResetRejected":
      // Attempts on unknown emails count too, so the limits hold for them; refusals do not.
      return event.data.reason === "unknown_email"
        ? { ...state, attempts: [...state.attempts, at] }
        : state;
    case "PasswordResetEmailSent":
    case "PasswordResetEmailFailed": {
      const request = state.requests.get(event.data.requestId);
      if (!request) return state;
      const requests = new Map(state.requests);
      requests.set(request.requestId, {
        ...request,
        outcome: event.type === "PasswordResetEmailSent" ? "sent" : "failed",
      });
      return { ...state, requests };
    }
    case "PasswordResetCodeRejected": {
      const { requestId, failedAttempts, locked } = event.data;
      const request = requestId === undefined ? undefined : state.requests.get(requestId);
      if (!request || failedAttempts === undefined) return state;
      return withRequest(state, {
        ...request,
        failedAttempts,
        locked: request.locked || locked === true,
      });
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
  const requests = new Map(state.requests);
  requests.set(request.requestId, request);
  return { ...state, requests };
}

export interface TriggerPasswordReset {
  type: "TriggerPasswordReset";
  requestId: string;
  now: number;
  ipHash: string;
  /** The account found for the email, with the sealed values prepared for it; null if none. */
  account: null | Omit<
    PasswordResetRequested["data"],
    "requestId" | "expiresAt" | "dispatchDeadline"
  >;
  codeTtlMs: number;
  dispatchWindowMs: number;
  rateLimits: boolean;
}

export type TriggerDecision =
  | { outcome: "requested"; events: [PasswordResetRequested] }
  | { outcome: "unknown_email"; events: [PasswordResetRejected] }
  | { outcome: "rate_limited"; retryAfterSeconds: number; events: [PasswordResetRejected] };

/** Per-email limits first (they hold for unknown emails too), then the account, then the code. */
export function decideTrigger(command: TriggerPasswordReset, state: ResetState): TriggerDecision {
  const { requestId, now, ipHash } = command;
  if (command.rateLimits) {
    const limited = emailLimit(state.attempts, now);
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
  const account = command.account;
  if (account === null) {
    return {
      outcome: "unknown_email",
      events: [rejected({ requestId, reason: "unknown_email", ipHash })],
    };
  }
  return {
    outcome: "requested",
    events: [
      {
        type: "PasswordResetRequested",
        data: {
          requestId,
          ...account,
          expiresAt: new Date(now + command.codeTtlMs).toISOString(),
          dispatchDeadline: new Date(now + command.dispatchWindowMs).toISOString(),
        },
      },
    ],
  };
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

/** The per-email trigger limits over the attempts that count (times in ms, oldest first). */
export function emailLimit(
  attempts: readonly number[],
  now: number,
): { limit: RateLimitName; retryAfterMs: number } | undefined {
  const hourly = windowLimit(
    limits.triggerPerEmailHourly.max,
    limits.triggerPerEmailHourly.windowMs,
    attempts,
    now,
  );
  if (!hourly.allowed) return { limit: "email_hourly", retryAfterMs: hourly.retryAfterMs };
  const burst = gcra(limits.triggerPerEmail, tatAfter(limits.triggerPerEmail, attempts), now);
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
  else if (named.locked || (command.emailGiven && latest?.locked)) reason = "locked";
  else if (named.used) reason = "used";
  else if (named.requestId !== latest?.requestId) reason = "superseded";
  else if (command.now >= named.expiresAt) reason = "expired";

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
  const counts = command.emailGiven && latest && !latest.used && !latest.locked;
  const data: PasswordResetCodeRejected["data"] = counts
    ? {
        requestId: latest.requestId,
        reason: rejection,
        failedAttempts: latest.failedAttempts + 1,
        ...(latest.failedAttempts + 1 >= MAX_FAILED_ATTEMPTS ? { locked: true } : {}),
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
