import { randomUUID } from "node:crypto";
import { isConcealedRejection, resetAttemptsStreamPrefix } from "../../events/password-reset";
import { userStreamId } from "../../events/user";
import { hashPassword } from "../accounts/hashing";
import { forgetFailedLogins } from "../accounts/service";
import { endSessionsWith } from "../accounts/sessions";
import type { AppContext } from "../context";
import {
  type CommandHandled,
  type Decision,
  deterministicUuid,
  handleCommand,
  type StreamWrite,
} from "../event-store";
import { HttpError, tooManyRequests } from "../http/errors";
import { type ClientInfo, requestMetadata } from "../http/request";
import {
  type Keyring,
  keyedHash,
  keyedHashes,
  newDataKey,
  seal,
  sealedLength,
  unseal,
  unwrapDataKey,
  wrapDataKey,
} from "../privacy";
import { clientAddress } from "../rate-limits/client";
import { limits } from "../rate-limits/gcra";
import { clientLimitKey, refundWindow, takeWindow } from "../rate-limits/store";
import { generateResetCode, isWellFormedResetCode, normaliseResetCode } from "./code";
import {
  decideReset,
  decideTrigger,
  evolve,
  HISTORY_WINDOW_MS,
  initialResetState,
  type PreparedAccount,
  rejectionFor,
  type TriggerDecision,
} from "./decider";
import { resetMessages } from "./model";
import type { ResetContext } from "./outcomes";
import { recordRefusal } from "./refusals";
import { accountAndResetStream, resetStreamOf, type TriggerAccount } from "./streams";

const resetAttemptsStreamId = (ipHash: string) =>
  `${resetAttemptsStreamPrefix}${deterministicUuid(ipHash)}`;

/**
 * The day's hash of the client (an IPv6 /64 as one), not of its exact address: the email's rules
 * count per client by it (the burst per email and client, one more for a client new to the
 * email, the code lock), so a /64 must not be 2^64 clients there. The exact address is sealed
 * in the request for the audit.
 */
const clientIpHash = (ctx: AppContext, ip: string) => ctx.ipHashes.of(clientAddress(ip));

/** Today's attempts stream of the client at `ip`. */
export const attemptsStreamOf = async (ctx: AppContext, ip: string) =>
  resetAttemptsStreamId(await clientIpHash(ctx, ip));

export interface TriggerInput extends ClientInfo {
  email: string;
  /** The request's Accept-Language: the email's language when the account chose none. */
  acceptLanguage?: string | null;
}

export const codeHash = (ctx: AppContext, normalisedCode: string) =>
  keyedHash(ctx.keyring, "reset-code", normalisedCode);

/**
 * The part of an email's reset history the rules look at: one hour, which stays small however
 * hard the address is hammered, since refusals are counted rather than logged one by one
 * (refusals.ts) and every other event is under a limit.
 */
const resetHistory = (streamId: string) => ({
  streamId,
  initialState: initialResetState,
  evolve,
  readWindowMs: HISTORY_WINDOW_MS,
});

/**
 * Records the request (or its rejection) and, for a request, waits for the email's outcome.
 * Resolves only when the provider accepted the message (in conceal mode: once the request or
 * its rejection is committed); every other ending is an HttpError.
 */
export async function triggerPasswordReset(ctx: ResetContext, input: TriggerInput): Promise<void> {
  const { config } = ctx;
  const requestId = randomUUID();
  const metadata = requestMetadata(input, requestId);

  // The client's own limit first, before any lookup or cryptography: a refusal is its cheapest
  // answer, and is tallied in the client's stream, so the emails it names add nothing to the log.
  if (config.rateLimits) {
    const byIp = await takeWindow(
      ctx.db,
      clientLimitKey(ctx.keyring, "trigger-ip", input.ip),
      limits.triggerPerIp,
    );
    if (!byIp.allowed) {
      const retryAfterSeconds = Math.ceil(byIp.retryAfterMs / 1000);
      const clientHash = await clientIpHash(ctx, input.ip);
      await recordRefusal(
        ctx,
        resetAttemptsStreamId(clientHash),
        rejectionFor(requestId, clientHash, "ip_hourly", retryAfterSeconds),
        metadata,
      );
      throw tooManyRequests(retryAfterSeconds);
    }
  }

  const { user, streamId } = await accountAndResetStream(ctx, input.email);
  const ipHash = await clientIpHash(ctx, input.ip);

  const outcome = ctx.resetOutcomes.expect(requestId, streamId);
  try {
    const { result: decision, version } = await recordTrigger(ctx, {
      requestId,
      streamId,
      user,
      ipHash,
      input,
      metadata,
    });
    if (decision.outcome === "rate_limited") throw tooManyRequests(decision.retryAfterSeconds);
    // Conceal answers once the request or its rejection is committed, known or not: waiting for
    // the provider would tell known addresses apart by time and by the provider's refusals.
    if (config.unknownEmail === "conceal") return;
    if (decision.outcome === "unknown_email") throw new HttpError(404, "user not found");
    const result = await outcome.wait(version, config.resetDispatchTimeoutMs);
    if (result?.type === "PasswordResetEmailSent") return;
    ctx.log.warn("reset email not sent", {
      requestId,
      httpRequestId: input.httpRequestId,
      outcome: result?.type ?? "no outcome before the deadline",
      reason: result?.type === "PasswordResetEmailFailed" ? result.data.reason : undefined,
    });
    throw new HttpError(500, "internal error");
  } finally {
    outcome.cancel();
  }
}

/**
 * A fresh code for the account, present only as its keyed hash and a seal under the request's
 * own key (destroyed once the email's outcome is recorded).
 */
function prepareAccount(
  ctx: AppContext,
  user: { id: string; sealed_email: string; sealed_locale: string | null },
  key: Buffer,
  code: { requestId: string; key: Buffer },
  input: TriggerInput,
): PreparedAccount {
  const plain = generateResetCode();
  return {
    userId: user.id,
    codeHash: codeHash(ctx, plain),
    sealedCode: seal(code.key, code.requestId, plain),
    sealedEmail: user.sealed_email,
    sealedIp: seal(key, user.id, input.ip),
    sealedUserAgent: seal(key, user.id, input.userAgent),
    locale: ctx.emails.localeFor(
      user.sealed_locale === null ? undefined : unseal(key, user.id, user.sealed_locale),
      input.acceptLanguage,
    ),
  };
}

/** A data key wrapped once per SECRET_KEY, which unknown emails unwrap as known ones do theirs. */
const decoyKeys = new WeakMap<Keyring, Buffer>();
const DECOY_SUBJECT = "00000000-0000-0000-0000-000000000000";

/**
 * For an email with no account, in conceal mode: the work of prepareAccount under throwaway
 * keys (an unwrap, a code, its hash, three seals), none of it kept: only its size is logged.
 */
function prepareDecoy(
  ctx: AppContext,
  code: { requestId: string; key: Buffer },
  input: TriggerInput,
): PreparedAccount {
  let wrapped = decoyKeys.get(ctx.keyring);
  if (wrapped === undefined) {
    wrapped = wrapDataKey(ctx.keyring, DECOY_SUBJECT, newDataKey());
    decoyKeys.set(ctx.keyring, wrapped);
  }
  const key = unwrapDataKey(ctx.keyring, DECOY_SUBJECT, wrapped);
  // The account's sealed email is read, not sealed: a stand-in of its length seals nothing.
  const user = {
    id: randomUUID(),
    sealed_email: "0".repeat(sealedLength(input.email)),
    sealed_locale: null,
  };
  return prepareAccount(ctx, user, key, code, input);
}

/**
 * Decides on the email's history and appends at the version it saw; a refusal is counted
 * instead, at whatever version the stream is, since it changes no decision state.
 */
async function recordTrigger(
  ctx: AppContext,
  args: {
    requestId: string;
    streamId: string;
    user: TriggerAccount | undefined;
    ipHash: string;
    input: TriggerInput;
    metadata: ReturnType<typeof requestMetadata>;
  },
): Promise<CommandHandled<TriggerDecision>> {
  const { requestId, streamId, user, ipHash, input, metadata } = args;
  const { config } = ctx;
  // No key means the user was erased a moment ago: the same as no account.
  const key = user ? ctx.dataKeys.adopt(user.id, user.wrapped_key) : undefined;
  const codeKey = newDataKey();
  const code = { requestId, key: codeKey };
  const account = user && key ? prepareAccount(ctx, user, key, code, input) : null;
  // Conceal: an unknown email does a known one's work up to the answer (README: Security).
  const decoy =
    account === null && config.unknownEmail === "conceal"
      ? prepareDecoy(ctx, code, input)
      : undefined;
  const timeoutMs = config.resetDispatchTimeoutMs;
  // The email must be settled a little before the handler stops waiting, so the answer is exact.
  const dispatchWindowMs = timeoutMs - Math.min(250, Math.floor(timeoutMs / 5));

  const handled = await handleCommand(ctx.store, {
    ...resetHistory(streamId),
    decide(state): Decision<TriggerDecision> {
      const decision = decideTrigger(
        {
          type: "TriggerPasswordReset",
          requestId,
          now: Date.now(),
          ipHash,
          account,
          decoy,
          codeTtlMs: config.resetCodeTtlSeconds * 1000,
          dispatchWindowMs,
          rateLimits: config.rateLimits,
        },
        state,
      );
      if (decision.outcome === "rate_limited") {
        // Counted, not appended at the version seen: it changes no decision state.
        return {
          result: decision,
          write: () => recordRefusal(ctx, streamId, decision.events[0], metadata),
        };
      }
      const [event] = decision.events;
      const events = decision.events.map((e) => ({ ...e, metadata }));
      // Only a request's code has a key: written in the transaction that records the request.
      // A concealed rejection wraps its throwaway one alike, and keeps nothing.
      const holdKey =
        decision.outcome === "requested"
          ? () => ctx.codeKeys.hold(requestId, codeKey)
          : isConcealedRejection(event)
            ? () => ctx.codeKeys.holdDecoy(requestId, codeKey)
            : undefined;
      return {
        result: decision,
        async write(append) {
          try {
            holdKey?.();
            await append(events);
          } catch (error) {
            // Not recorded, conflict or not: the held key goes; a re-decision holds it again.
            ctx.codeKeys.release(requestId);
            throw error;
          }
        },
      };
    },
  });
  ctx.codeKeys.recorded(requestId);
  return handled;
}

export interface ResetInput extends ClientInfo {
  code: string;
  newPassword: string;
  email: string | undefined;
}

const invalidCode = () => new HttpError(400, resetMessages.invalidCode);

/**
 * Completes a reset: the code is found by its keyed hash, then the email's stream decides.
 * Consumption is atomic: the completion is appended at the version the decision saw, so of
 * two concurrent resets with one code exactly one commits; the other re-reads and sees it used.
 */
export async function resetPassword(
  ctx: AppContext,
  input: ResetInput,
): Promise<{ email: string }> {
  const { config, db } = ctx;
  const limitKey = clientLimitKey(ctx.keyring, "reset-failures-ip", input.ip);
  // Every attempt takes a token up front (so a burst cannot outrun the budget); a success gives it back.
  const budget = config.rateLimits
    ? await takeWindow(db, limitKey, limits.failedCodesPerIp)
    : undefined;
  if (budget && !budget.allowed) throw tooManyRequests(budget.retryAfterMs / 1000);
  const ipHash = await clientIpHash(ctx, input.ip);
  const metadata = requestMetadata(input);
  const normalised = normaliseResetCode(input.code);
  const row = isWellFormedResetCode(normalised)
    ? await db
        .selectFrom("reset_codes")
        .selectAll()
        .where("code_hash", "in", keyedHashes(ctx.keyring, "reset-code", normalised))
        .executeTakeFirst()
    : undefined;
  const streamId = input.email ? await resetStreamOf(ctx, input.email) : row?.stream_id;
  if (streamId === undefined) {
    await ctx.store.append(resetAttemptsStreamId(ipHash), "any", [
      { type: "PasswordResetCodeRejected", data: { reason: "unknown_code", ipHash }, metadata },
    ]);
    throw invalidCode();
  }

  // The account the code belongs to, if it belongs to this stream and the user still exists.
  const owner = row && row.stream_id === streamId ? row : undefined;
  const key = owner ? await ctx.dataKeys.find(owner.user_id) : undefined;
  const user =
    owner && key
      ? await db.selectFrom("users").selectAll().where("id", "=", owner.user_id).executeTakeFirst()
      : undefined;
  const passwordHash = user ? await hashPassword(input.newPassword) : undefined;

  const completed = await recordReset(ctx, {
    streamId,
    ipHash,
    input,
    owner,
    user,
    key,
    passwordHash,
    metadata,
  });
  if (!completed) throw invalidCode();
  const email = unseal(completed.key, completed.user.id, completed.user.sealed_email);
  if (budget) await refundWindow(db, limitKey, budget);
  await forgetFailedLogins(ctx, email);
  return { email };
}

type Completion = { user: { id: string; sealed_email: string }; key: Buffer };

/**
 * Decides on the email's history and appends at the version it saw: a rejected code is
 * recorded in the stream; a completion with the password change in the user's stream.
 */
async function recordReset(
  ctx: AppContext,
  args: {
    streamId: string;
    ipHash: string;
    input: ResetInput;
    owner: { request_id: string; user_id: string; locale: string | null } | undefined;
    user: { id: string; sealed_email: string } | undefined;
    key: Buffer | undefined;
    passwordHash: string | undefined;
    metadata: ReturnType<typeof requestMetadata>;
  },
): Promise<Completion | undefined> {
  const { streamId, ipHash, input, owner, user, key, passwordHash, metadata } = args;
  const { result } = await handleCommand(ctx.store, {
    ...resetHistory(streamId),
    decide(state): Decision<Completion | undefined> {
      const decision = decideReset(
        {
          type: "ResetPassword",
          now: Date.now(),
          ipHash,
          codeRequestId: user && owner ? owner.request_id : null,
          emailGiven: input.email !== undefined,
          sealedIp: key && owner ? seal(key, owner.user_id, input.ip) : "",
          sealedUserAgent: key && owner ? seal(key, owner.user_id, input.userAgent) : "",
        },
        state,
      );
      const events = decision.events.map((e) => ({ ...e, metadata }));
      if (decision.outcome === "rejected") return { result: undefined, events };
      if (!user || !key || !passwordHash) throw new Error("a completed reset needs its user");
      const passwordChanged = {
        type: "PasswordChanged",
        data: {
          userId: user.id,
          sealedPasswordHash: seal(key, user.id, passwordHash),
          reason: "reset",
          requestId: decision.requestId,
          ...(owner?.locale ? { locale: owner.locale } : {}),
        },
        metadata,
      };
      const userWrite: StreamWrite = {
        streamId: userStreamId(user.id),
        expectedVersion: "any",
        events: [passwordChanged],
      };
      return {
        result: { user, key },
        // The sessions the change ends are named beside it, read right before the append.
        async write(append) {
          await endSessionsWith(ctx, userWrite, user.id, metadata);
          await append(events, [userWrite]);
        },
      };
    },
  });
  return result;
}
