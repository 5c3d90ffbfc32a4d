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
import { login, registerUser } from "./service";
import { authenticate, listSessions, logout, revokeSession } from "./sessions";

const credentialsSchema = {
  type: "object",
  properties: {
    email: { type: "string", format: "email", example: "user@example.com" },
    password: { type: "string", minLength: 8, maxLength: 256, example: "Correct-Horse-9" },
  },
  required: ["email", "password"],
} as const;

const registrationSchema = {
  ...credentialsSchema,
  properties: {
    ...credentialsSchema.properties,
    locale: {
      type: "string",
      description:
        "Optional. The language of the account's emails, a BCP 47 tag (stored canonical: `pt-br` → `pt-BR`); without it the emails follow each request's `Accept-Language`, else `MAIL_DEFAULT_LOCALE`",
      example: "de",
    },
  },
} as const;

const loginSchema = {
  type: "object",
  properties: {
    ...credentialsSchema.properties,
    device_token: {
      type: "string",
      description:
        "The `device_token` of an earlier login on this device: failed logins presenting it are limited per device, not by the account's limit",
      example: "Dv4pQ9sX2mK7bN1cR8tY5wZ0aE3fH6jL-UoIiGgTt0A",
    },
  },
  required: ["email", "password"],
} as const;

const sessionSchema = {
  type: "object",
  properties: {
    id: { type: "string", format: "uuid" },
    created_at: { type: "string", format: "date-time" },
    last_used_at: {
      type: "string",
      format: "date-time",
      description: "Written at most once a minute",
    },
    expires_at: { type: "string", format: "date-time", description: "The absolute end" },
    ip: { type: ["string", "null"], description: "The client address that logged in" },
    user_agent: { type: ["string", "null"] },
    current: { type: "boolean", description: "The session this request presented" },
  },
  required: ["id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "current"],
} as const;

const unauthorizedResponse = jsonResponse(
  "Missing, unknown, ended or idle session",
  apiError("unauthorized"),
);

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
          requestBody: jsonBody(registrationSchema),
          responses: {
            "201": jsonResponse("Registered", {
              schema: { type: "object", properties: { user: userSchema }, required: ["user"] },
              example: { user: examples.user },
            }),
            "400": jsonResponse("Missing fields, invalid email, weak password or invalid locale", {
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
            "Opens a session. The token is opaque; send it as `Authorization: Bearer <token>`. Keep `device_token` and send it back with later logins from this device.",
          operationId: "login",
          requestBody: jsonBody(loginSchema),
          responses: {
            "200": jsonResponse("Logged in", {
              schema: {
                type: "object",
                properties: {
                  token: { type: "string" },
                  expires_at: { type: "string", format: "date-time" },
                  device_token: {
                    type: "string",
                    description:
                      "Bound to the account; lives 90 days, renewed by each login that presents it",
                  },
                  user: userSchema,
                },
                required: ["token", "expires_at", "device_token", "user"],
              },
              example: {
                token: "q8Zp2vQ0b4Xw5nL1y7Rk3tHc9dGf6sJm-Ae0uBiVoWx",
                expires_at: "2026-11-28T10:00:00.000Z",
                device_token: "Dv4pQ9sX2mK7bN1cR8tY5wZ0aE3fH6jL-UoIiGgTt0A",
                user: examples.user,
              },
            }),
            "400": jsonResponse(
              "Missing fields, or a device_token that is not a string",
              apiError("email and password are required"),
            ),
            "401": jsonResponse("Unknown email or wrong password", apiError("invalid credentials")),
            "429": tooManyRequestsResponse,
          },
        },
      },
    )
    .get(
      "/v1/auth/me",
      async ({ request, server }) => {
        const client = clientOf(request, server, ctx.config.trustProxy);
        const caller = await authenticate(ctx, request.headers.get("authorization"), client);
        return { user: caller.user };
      },
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
            "401": unauthorizedResponse,
          },
        },
      },
    )
    .post(
      "/v1/auth/logout",
      async ({ request, server, set }) => {
        const client = clientOf(request, server, ctx.config.trustProxy);
        await logout(ctx, request.headers.get("authorization"), client);
        set.status = 204;
      },
      {
        parse: "none",
        detail: {
          tags: ["Auth"],
          summary: "Log out",
          description: "Ends the presented session.",
          operationId: "logout",
          security: [{ bearer: [] }],
          responses: {
            "204": { description: "The session is over" },
            "401": unauthorizedResponse,
          },
        },
      },
    )
    .get(
      "/v1/auth/sessions",
      async ({ request, server }) => {
        const client = clientOf(request, server, ctx.config.trustProxy);
        return { sessions: await listSessions(ctx, request.headers.get("authorization"), client) };
      },
      {
        detail: {
          tags: ["Auth"],
          summary: "My sessions",
          description:
            "The caller's live sessions, newest first, with the client each was opened from; `current` marks the one presented.",
          operationId: "listSessions",
          security: [{ bearer: [] }],
          responses: {
            "200": jsonResponse("The caller's sessions", {
              schema: {
                type: "object",
                properties: { sessions: { type: "array", items: sessionSchema } },
                required: ["sessions"],
              },
              example: {
                sessions: [
                  {
                    id: "0193b8f3-1d2e-7a4b-8c5d-6e7f8091a2b3",
                    created_at: "2026-11-27T10:00:00.000Z",
                    last_used_at: "2026-11-27T10:05:00.000Z",
                    expires_at: "2026-11-28T10:00:00.000Z",
                    ip: "203.0.113.7",
                    user_agent: "Mozilla/5.0",
                    current: true,
                  },
                ],
              },
            }),
            "401": unauthorizedResponse,
          },
        },
      },
    )
    .delete(
      "/v1/auth/sessions/:id",
      async ({ request, server, params, set }) => {
        const client = clientOf(request, server, ctx.config.trustProxy);
        await revokeSession(ctx, request.headers.get("authorization"), params.id, client);
        set.status = 204;
      },
      {
        parse: "none",
        detail: {
          tags: ["Auth"],
          summary: "End a session",
          description: "Ends one of the caller's own sessions (the current one too).",
          operationId: "endSession",
          security: [{ bearer: [] }],
          parameters: [
            {
              name: "id",
              in: "path",
              required: true,
              description: "The session's id, as listed",
              schema: { type: "string", format: "uuid" },
            },
          ],
          responses: {
            "204": { description: "The session is over" },
            "400": jsonResponse("Not a session id", apiError("invalid session id")),
            "401": unauthorizedResponse,
            "404": jsonResponse(
              "No live session of the caller's with this id",
              apiError("session not found"),
            ),
          },
        },
      },
    );
}
