import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { readJsonObject } from "../http/body";
import { errorSchema, jsonBody, jsonResponse } from "../http/openapi";
import { clientIpOf, requestIdOf } from "../http/request";
import { parseTriggerBody, triggerMessages } from "./model";
import { triggerPasswordReset } from "./service";

const triggerRequestSchema = {
  type: "object",
  properties: { email: { type: "string", format: "email", example: "user@example.com" } },
  required: ["email"],
} as const;

const apiError = (example: string) => ({ schema: errorSchema, example: { error: example } });

export function passwordResetRoutes(ctx: AppContext) {
  return new Elysia({ name: "password-reset" }).post(
    "/v1/auth/password-reset/trigger",
    async ({ request, server }) => {
      const email = parseTriggerBody(await readJsonObject(request));
      await triggerPasswordReset(ctx, {
        email,
        ip: clientIpOf(request, server, ctx.config.trustProxy),
        userAgent: (request.headers.get("user-agent") ?? "").slice(0, 512),
        httpRequestId: requestIdOf(request),
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
          "429": {
            ...jsonResponse("Too many requests", apiError("too many requests")),
            headers: {
              "Retry-After": {
                description: "Seconds until a request can succeed",
                schema: { type: "integer" },
              },
            },
          },
          "500": jsonResponse("Internal Server Error", apiError("internal error")),
        },
      },
    },
  );
}
