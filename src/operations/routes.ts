import { Elysia } from "elysia";
import { sql } from "kysely";
import type { AppContext } from "../context";
import { migrated } from "../db";
import { jsonResponse } from "../http/openapi";
import { checkLogProtection } from "./log-protection";

/** A probe's own deadline is short: a database that hangs is as unready as one that refuses. */
const READY_TIMEOUT_MS = 2_000;

const liveSchema = {
  type: "object",
  properties: { status: { type: "string", enum: ["ok"] } },
  required: ["status"],
} as const;

const PARTS = ["database", "migrations", "subscriptions"] as const;
type Part = (typeof PARTS)[number];

const readySchema = {
  type: "object",
  properties: {
    status: { type: "string", enum: ["ready", "not_ready"] },
    failing: {
      type: "array",
      items: { type: "string", enum: PARTS },
      description: "The parts that are not ready; empty when ready",
    },
    database: {
      type: "string",
      enum: ["ok", "unavailable"],
      description: "A query answered within 2 seconds",
    },
    migrations: {
      type: "string",
      enum: ["applied", "pending", "unknown"],
      description: "Every migration this version knows is applied (unknown: no database)",
    },
    subscriptions: {
      type: "object",
      additionalProperties: { type: "string", enum: ["owner", "standby", "stopped"] },
      description: "Each subscriber: owner (doing the work) or standby (another process is)",
    },
  },
  required: ["status", "failing", "database", "migrations", "subscriptions"],
} as const;

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** What must hold for this process to take traffic; the parts that do not, by name. */
async function readiness(ctx: AppContext) {
  const subscriptions = Object.fromEntries(
    ctx.subscriptions.map((s) => [
      s.name,
      s.isRunning ? (s.isOwner ? "owner" : "standby") : "stopped",
    ]),
  );
  let database: "ok" | "unavailable" = "ok";
  let migrations: "applied" | "pending" | "unknown" = "unknown";
  try {
    await within(READY_TIMEOUT_MS, sql`select 1`.execute(ctx.db));
    migrations = (await within(READY_TIMEOUT_MS, migrated(ctx.db))) ? "applied" : "pending";
  } catch {
    database = "unavailable";
  }
  const failing: Part[] = [];
  if (database !== "ok") failing.push("database");
  // Unknown migrations follow from an unavailable database: that is the part that failed.
  if (migrations === "pending") failing.push("migrations");
  if (Object.values(subscriptions).includes("stopped")) failing.push("subscriptions");
  return {
    status: failing.length === 0 ? "ready" : "not_ready",
    failing,
    database,
    migrations,
    subscriptions,
  };
}

const healthSchema = {
  type: "object",
  properties: {
    status: { type: "string", enum: ["ok", "unavailable"] },
    database: { type: "string", enum: ["postgres", "embedded"] },
    subscriptions: { type: "object", additionalProperties: { type: "string" } },
    log_protection: {
      type: "string",
      enum: ["protected", "unprotected"],
      description:
        "unprotected: the server's own database role could rewrite the event log (README: Running with least privilege)",
    },
  },
  required: ["status"],
} as const;

export function operationsRoutes(ctx: AppContext) {
  return new Elysia({ name: "operations" })
    .get("/v1/health/live", () => ({ status: "ok" }), {
      detail: {
        tags: ["Operations"],
        summary: "Liveness",
        description:
          "The process answers: 200 whenever it serves, without touching the database. A probe that gets no answer should restart it.",
        operationId: "healthLive",
        responses: {
          "200": jsonResponse("The process is serving", {
            schema: liveSchema,
            example: { status: "ok" },
          }),
        },
      },
    })
    .get(
      "/v1/health/ready",
      async ({ set }) => {
        const answer = await readiness(ctx);
        if (answer.status !== "ready") set.status = 503;
        return answer;
      },
      {
        detail: {
          tags: ["Operations"],
          summary: "Readiness",
          description:
            "Whether this process should take traffic: the database answers, every migration is applied and every subscriber runs (as owner or standby). 503 names the parts that fail.",
          operationId: "healthReady",
          responses: {
            "200": jsonResponse("Ready for traffic", {
              schema: readySchema,
              example: {
                status: "ready",
                failing: [],
                database: "ok",
                migrations: "applied",
                subscriptions: { "reset-mailer": "owner", "password-changed-mailer": "owner" },
              },
            }),
            "503": jsonResponse("Not ready: `failing` names the parts", {
              schema: readySchema,
              example: {
                status: "not_ready",
                failing: ["database"],
                database: "unavailable",
                migrations: "unknown",
                subscriptions: { "reset-mailer": "owner", "password-changed-mailer": "owner" },
              },
            }),
          },
        },
      },
    )
    .get(
      "/v1/health",
      async ({ set }) => {
        const subscriptions = Object.fromEntries(
          ctx.subscriptions.map((s) => [s.name, s.isOwner ? "owner" : "standby"]),
        );
        try {
          // The privilege check is the database round trip: it answers only when the database does.
          const { protection } = await checkLogProtection(ctx.database);
          return {
            status: "ok",
            database: ctx.database.kind,
            log_protection: protection,
            subscriptions,
          };
        } catch {
          set.status = 503;
          return { status: "unavailable", database: ctx.database.kind, subscriptions };
        }
      },
      {
        detail: {
          tags: ["Operations"],
          summary: "Health",
          operationId: "health",
          responses: {
            "200": jsonResponse("The database answers", {
              schema: healthSchema,
              example: {
                status: "ok",
                database: "postgres",
                log_protection: "protected",
                subscriptions: { "reset-mailer": "owner" },
              },
            }),
            "503": jsonResponse("The database does not answer", {
              schema: healthSchema,
              example: { status: "unavailable", database: "postgres" },
            }),
          },
        },
      },
    );
}
