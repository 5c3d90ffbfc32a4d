import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { readJsonObject } from "../http/body";
import { errorSchema, jsonBody, jsonResponse } from "../http/openapi";
import { requestIdOf } from "../http/request";
import { examples, parseRegistration } from "./model";
import { registerUser } from "./service";

const credentialsSchema = {
  type: "object",
  properties: {
    email: { type: "string", format: "email", example: "user@example.com" },
    password: { type: "string", minLength: 8, maxLength: 256, example: "Correct-Horse-9" },
  },
  required: ["email", "password"],
} as const;

const userSchema = {
  type: "object",
  properties: {
    id: { type: "string", format: "uuid" },
    email: { type: "string", format: "email" },
    created_at: { type: "string", format: "date-time" },
  },
  required: ["id", "email", "created_at"],
} as const;

export function accountRoutes(ctx: AppContext) {
  return new Elysia({ name: "accounts" }).post(
    "/v1/auth/register",
    async ({ request, set }) => {
      const credentials = parseRegistration(await readJsonObject(request));
      const user = await registerUser(ctx, credentials, { requestId: requestIdOf(request) });
      set.status = 201;
      return { user };
    },
    {
      parse: "none",
      detail: {
        tags: ["Auth"],
        summary: "Register",
        description: "Creates an account. The email is normalised (trimmed, lower-cased).",
        operationId: "register",
        requestBody: jsonBody(credentialsSchema),
        responses: {
          "201": jsonResponse("Registered", {
            schema: { type: "object", properties: { user: userSchema }, required: ["user"] },
            example: { user: examples.user },
          }),
          "400": jsonResponse("Missing fields, invalid email or weak password", {
            schema: errorSchema,
            example: { error: "email and password are required" },
          }),
          "409": jsonResponse("Email already registered", {
            schema: errorSchema,
            example: { error: "email already registered" },
          }),
        },
      },
    },
  );
}
