import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { readJsonObject } from "../http/body";
import { apiError, jsonBody, jsonResponse, tooManyRequestsResponse } from "../http/openapi";
import { clientOf } from "../http/request";
import { parseResetBody, parseTriggerBody, resetMessages, triggerMessages } from "./model";
import { withResetOutcomes } from "./outcomes";
import { resetPassword, triggerPasswordReset } from "./service";

const triggerRequestSchema = {
  type: "object",
  properties: { email: { type: "string", format: "email", example: "user@example.com" } },
  required: ["email"],
} as const;

const resetRequestSchema = {
  type: "object",
  properties: {
    code: { type: "string", example: "7GDB-PX75-TT0E-1SAF-EMB8" },
    new_password: { type: "string", minLength: 8, maxLength: 256, example: "N3w-Passw0rd!" },
    email: {
      type: "string",
      format: "email",
      example: "user@example.com",
      description: "Optional. When given, five wrong codes lock the account's current code.",
    },
  },
  required: ["code", "new_password"],
} as const;

export function passwordResetRoutes(ctx: AppContext) {
  const resetCtx = withResetOutcomes(ctx);
  return new Elysia({ name: "password-reset" })
    .post(
      "/v1/auth/password-reset/trigger",
      async ({ request, server }) => {
        const email = parseTriggerBody(await readJsonObject(request));
        await triggerPasswordReset(resetCtx, {
          email,
          acceptLanguage: request.headers.get("accept-language"),
          ...clientOf(request, server, ctx.config.trustProxy),
        });
        return { message: triggerMessages.sent };
      },
      {
        parse: "none",
        detail: {
          tags: ["Auth"],
          summary: "Trigger Password Reset",
          description: "Generates a password reset code and sends it via email to the user.",
          operationId: "triggerPasswordReset",
          requestBody: jsonBody(triggerRequestSchema),
          responses: {
            "200": jsonResponse("Password reset email sent successfully", {
              schema: {
                type: "object",
                properties: {
                  message: { type: "string", example: triggerMessages.sent },
                },
                required: ["message"],
              },
            }),
            "400": jsonResponse("Missing email", apiError(triggerMessages.required)),
            "404": jsonResponse("User not found", apiError(triggerMessages.notFound)),
            "429": tooManyRequestsResponse,
            "500": jsonResponse("Internal Server Error", apiError("internal error")),
          },
        },
      },
    )
    .post(
      "/v1/auth/password-reset/reset",
      async ({ request, server }) => {
        const body = parseResetBody(await readJsonObject(request));
        const { email } = await resetPassword(ctx, {
          ...body,
          ...clientOf(request, server, ctx.config.trustProxy),
        });
        return { message: resetMessages.done, email };
      },
      {
        parse: "none",
        detail: {
          tags: ["Auth"],
          summary: "Reset Password",
          description:
            "Sets a new password with a code from the reset email. The code is single-use, matched case-insensitively with or without separators; success ends every session of the user.",
          operationId: "resetPassword",
          requestBody: jsonBody(resetRequestSchema),
          responses: {
            "200": jsonResponse("Password reset successfully", {
              schema: {
                type: "object",
                properties: {
                  message: { type: "string", example: resetMessages.done },
                  email: { type: "string", format: "email", example: "user@example.com" },
                },
                required: ["message", "email"],
              },
              example: { message: resetMessages.done, email: "user@example.com" },
            }),
            "400": jsonResponse(
              "Missing fields, weak password, or a bad code",
              apiError(resetMessages.invalidCode),
            ),
            "429": tooManyRequestsResponse,
          },
        },
      },
    );
}
