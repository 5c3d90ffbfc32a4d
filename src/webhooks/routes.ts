import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { readJsonObject } from "../http/body";
import { apiError, jsonBody, jsonResponse } from "../http/openapi";
import { requestIdOf } from "../http/request";
import { receiveMailgunWebhook } from "./service";

const webhookSchema = {
  type: "object",
  properties: {
    signature: {
      type: "object",
      properties: {
        timestamp: { type: "string", example: "1764500000" },
        token: { type: "string", example: "5e0c4b0f3a9d1e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e" },
        signature: { type: "string", description: "hex HMAC-SHA256 of timestamp + token" },
      },
      required: ["timestamp", "token", "signature"],
    },
    "event-data": {
      type: "object",
      description:
        "Mailgun's event: `delivered`, `failed` (severity permanent or temporary) and `complained` are recorded",
      additionalProperties: true,
    },
  },
  required: ["signature", "event-data"],
} as const;

const resultSchema = {
  type: "object",
  properties: { message: { type: "string", enum: ["recorded", "already recorded", "ignored"] } },
  required: ["message"],
} as const;

export function webhookRoutes(ctx: AppContext) {
  return new Elysia({ name: "webhooks" }).post(
    "/v1/webhooks/mailgun",
    async ({ request }) => {
      const body = await readJsonObject(request);
      const message = await receiveMailgunWebhook(ctx, body, {
        requestId: requestIdOf(request),
      });
      return { message };
    },
    {
      parse: "none",
      detail: {
        tags: ["Webhooks"],
        summary: "Mailgun delivery report",
        description:
          "Mailgun's webhook for a sent email: appends PasswordResetEmailDelivered, …Bounced (failed, permanent), …Deferred (failed, temporary) or …Complained to that email's stream (PasswordChangedNotice… for the password-changed notice). Signed with MAILGUN_WEBHOOK_SIGNING_KEY (either of its two keys while Mailgun's is rotated); stale (over 5 minutes) or replayed signatures are refused.",
        operationId: "mailgunWebhook",
        requestBody: jsonBody(webhookSchema),
        responses: {
          "200": jsonResponse("Recorded, recorded before, or not about an email sent here", {
            schema: resultSchema,
            example: { message: "recorded" },
          }),
          "400": jsonResponse("Not a webhook body", apiError("invalid request body")),
          "401": jsonResponse("Bad, stale or replayed signature", apiError("invalid signature")),
          "503": jsonResponse(
            "No MAILGUN_WEBHOOK_SIGNING_KEY configured",
            apiError("webhooks disabled"),
          ),
        },
      },
    },
  );
}
