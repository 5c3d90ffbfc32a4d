import { sql } from "kysely";
import { userStreamId } from "../../events/user";
import type { AppContext } from "../context";
import { deterministicUuid, type StreamWrite } from "../event-store";
import { HttpError, invalidBody } from "../http/errors";
import { resetStreamOf } from "../password-reset/streams";
import { emailLookups } from "../privacy";
import { decideReport, type SentMessage } from "./decider";
import { isAuthentic, parseReport, parseSignature } from "./model";

export type WebhooksContext = Pick<AppContext, "config" | "db" | "keyring" | "store">;

export type WebhookResult = "recorded" | "already recorded" | "ignored";

const invalidSignature = () => new HttpError(401, "invalid signature");

/** Tokens older than this can only come with a refused timestamp, so they need not be kept. */
const TOKEN_MEMORY = "10 minutes";

/**
 * A Mailgun webhook: authentic, fresh and never seen before, or 401 with nothing recorded. A
 * report on an email we sent is appended to that email's stream, once per provider event id.
 */
export async function receiveMailgunWebhook(
  ctx: WebhooksContext,
  body: Record<string, unknown>,
  metadata: { requestId: string },
  now: number = Date.now(),
): Promise<WebhookResult> {
  const keys = ctx.config.webhookSigningKeys;
  if (keys.length === 0) throw new HttpError(503, "webhooks disabled");
  const signature = parseSignature(body);
  if (signature === undefined || !isAuthentic(keys, signature, now)) throw invalidSignature();
  const report = parseReport(body["event-data"]);
  if (report === undefined) throw invalidBody();

  const sent =
    report === "ignored" ? [] : await sentMessages(ctx, report.messageId, report.recipient);
  const writes: StreamWrite[] =
    report === "ignored"
      ? []
      : sent.map((message) => ({
          streamId: message.streamId,
          expectedVersion: "any",
          events: [
            {
              ...decideReport(report, message),
              // One event per provider event: a repeated delivery of it appends nothing.
              eventId: deterministicUuid(`delivery-report:${message.streamId}:${report.reportId}`),
              metadata: {
                requestId: metadata.requestId,
                correlationId: message.reference,
                causationId: message.sentEventId,
              },
            },
          ],
        }));

  // The token is spent in the transaction that records the report: a failed append leaves it
  // unspent, so Mailgun's retry of the same webhook is not taken for a replay.
  const spend = async (trx: Parameters<Parameters<typeof ctx.store.transact>[0]>[0]) => {
    await sql`delete from webhook_tokens
              where seen_at < now() - ${TOKEN_MEMORY}::interval`.execute(trx);
    const { rows } = await sql`
      insert into webhook_tokens (token) values (${signature.token})
      on conflict do nothing returning token`.execute(trx);
    if (rows.length === 0) throw invalidSignature();
  };
  if (writes.length === 0) {
    await ctx.db.transaction().execute(spend);
    return "ignored";
  }
  const result = await ctx.store.transact(async (trx) => {
    await spend(trx);
    return writes;
  });
  return result.duplicate ? "already recorded" : "recorded";
}

/**
 * The sent emails a report can be about: its message id, in the recipient's reset stream or in
 * the user stream of the account holding that address (one id may carry several recipients).
 */
async function sentMessages(
  ctx: WebhooksContext,
  messageId: string,
  recipient: string,
): Promise<(SentMessage & { sentEventId: string })[]> {
  const account = await ctx.db
    .selectFrom("users")
    .select("id")
    .where("email_lookup", "in", emailLookups(ctx.keyring, recipient))
    .executeTakeFirst();
  const streams = [await resetStreamOf(ctx, recipient)];
  if (account) streams.push(userStreamId(account.id));
  const { rows } = await sql<{
    stream_id: string;
    kind: "reset" | "notice";
    reference: string;
    sent_event_id: string;
  }>`
    select stream_id, kind, reference, sent_event_id::text as sent_event_id from sent_messages
    where provider_message_id = ${messageId} and stream_id = any(${streams}::text[])
    order by stream_id`.execute(ctx.db);
  return rows.map((r) => ({
    kind: r.kind,
    streamId: r.stream_id,
    reference: r.reference,
    sentEventId: r.sent_event_id,
  }));
}
