import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { readJsonObject } from "../http/body";
import {
  apiError,
  errorSchema,
  jsonBody,
  jsonResponse,
  tooManyRequestsResponse,
} from "../http/openapi";
import { clientOf } from "../http/request";
import { examples, parseLogin, parseRegistration } from "./model";
import { currentUser, login, registerUser } from "./service";

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
  return new Elysia({ name: "accounts" })
    .post(
      "/v1/auth/register",
      async ({ request, server, set }) => {
        const credentials = parseRegistration(await readJsonObject(request));
        const client = clientOf(request, server, ctx.config.trustProxy);
        const user = await registerUser(ctx, credentials, client);
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
            "429": tooManyRequestsResponse,
          },
        },
      },
    )
    .post(
      "/v1/auth/login",
      async ({ request, server }) => {
        const credentials = parseLogin(await readJsonObject(request));
        return login(ctx, credentials, clientOf(request, server, ctx.config.trustProxy));
      },
      {
        parse: "none",
        detail: {
          tags: ["Auth"],
          summary: "Login",
          description:
            "Opens a session. The token is opaque; send it as `Authorization: Bearer <token>`.",
          operationId: "login",
          requestBody: jsonBody(credentialsSchema),
          responses: {
            "200": jsonResponse("Logged in", {
              schema: {
                type: "object",
                properties: {
                  token: { type: "string" },
                  expires_at: { type: "string", format: "date-time" },
                  user: userSchema,
                },
                required: ["token", "expires_at", "user"],
              },
              example: {
                token: "q8Zp2vQ0b4Xw5nL1y7Rk3tHc9dGf6sJm-Ae0uBiVoWx",
                expires_at: "2026-11-28T10:00:00.000Z",
                user: examples.user,
              },
            }),
            "400": jsonResponse("Missing fields", apiError("email and password are required")),
            "401": jsonResponse("Unknown email or wrong password", apiError("invalid credentials")),
            "429": tooManyRequestsResponse,
          },
        },
      },
    )
    .get(
      "/v1/auth/me",
      async ({ request }) => ({
        user: await currentUser(ctx, request.headers.get("authorization")),
      }),
      {
        detail: {
          tags: ["Auth"],
          summary: "Current user",
          operationId: "me",
          security: [{ bearer: [] }],
          responses: {
            "200": jsonResponse("The session's user", {
              schema: { type: "object", properties: { user: userSchema }, required: ["user"] },
              example: { user: examples.user },
            }),
            "401": jsonResponse("Missing, unknown or ended session", apiError("unauthorized")),
          },
        },
      },
    );
}
