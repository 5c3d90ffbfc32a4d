import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, type LogEvent, Migrator, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { migrationProvider } from "./migrations";
import { PGliteDialect } from "./pglite-dialect";
import type { Schema } from "./schema";
import { setStatementRunner } from "./statements";

export type { Schema } from "./schema";
export { runRead, runStatement } from "./statements";
export type Db = Kysely<Schema>;

export interface Database {
  readonly kind: "postgres" | "embedded";
  readonly db: Db;
  /** Calls onNotify for every NOTIFY on channel until the returned function is called. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * PostgreSQL only: one NOTIFY in a transaction of its own with synchronous_commit off, on a
   * connection of its own, so it neither waits for the pool nor holds the notify lock across
   * a WAL flush.
   */
  notify?(channel: string, payload: string): Promise<void>;
  /**
   * PostgreSQL only: one small statement (`name` prepares it) on that same connection of its
   * own, in a transaction of its own, so it never queues behind the pool.
   */
  aside?(name: string, text: string, values: unknown[]): Promise<void>;
  close(): Promise<void>;
  /** Connections of the pool (PostgreSQL only), for the metrics. */
  poolUse?(): { total: number; idle: number; waiting: number };
}

export interface DatabaseOptions {
  databaseUrl?: string;
  /** Embedded database directory; undefined keeps it in memory. */
  dataDir?: string;
  /** An embedded database's starting contents (a PGlite data-directory dump): skips initdb. */
  loadDataDir?: Blob;
  poolSize?: number;
  /** Called with every statement's text as it runs (tests that compare the work of two paths). */
  onQuery?: (sql: string) => void;
}

const logQueries = (onQuery: ((sql: string) => void) | undefined) =>
  onQuery === undefined
    ? undefined
    : (event: LogEvent) => {
        if (event.level === "query") onQuery(event.query.sql);
      };

// bigint columns (positions) stay far below 2^53, so numbers are safe and simpler for callers.
const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * Every parameterised query becomes a named prepared statement on its connection, so
 * PostgreSQL parses and plans each distinct statement once per connection instead of on
 * every call. The statement texts come from our code (a bounded set), never from input.
 */
function prepareStatements(client: pg.ClientBase): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const names = new Map<string, string>();
  (client as { query: unknown }).query = (text: unknown, values?: unknown, callback?: unknown) => {
    if (typeof text !== "string" || !Array.isArray(values) || values.length === 0) {
      return query(text, values, callback);
    }
    let name = names.get(text);
    if (name === undefined) {
      name = `s${names.size}`;
      names.set(text, name);
    }
    return query({ name, text, values }, callback);
  };
}

/** Connections shared by reads, each sending its statements without waiting for answers. */
const PIPELINED_READERS = 2;

/**
 * Connections in pipeline mode for single statements that never wait on a commit's flush:
 * many callers' statements go down one connection back to back (one socket write per turn of
 * the event loop, not per query), where the pool would check a connection out and back in for
 * each. Never a transaction, nor a statement that waits for the disk: it would hold up every
 * statement behind it.
 */
function pipelinedConnections(url: string, size: number) {
  const clients: (pg.Client | undefined)[] = Array.from({ length: size }, () => undefined);
  const inFlight = new Array<number>(size).fill(0);
  let closed = false;
  const open = (i: number): pg.Client => {
    const client = new pg.Client({ connectionString: url, types: pgTypes, pipeline: true });
    prepareStatements(client);
    // A lost connection fails the statements on it and is replaced by the next one.
    const drop = () => {
      if (clients[i] === client) clients[i] = undefined;
      client.end().catch(() => {});
    };
    client.on("error", drop);
    client.on("end", drop);
    client.connect().catch(drop);
    clients[i] = client;
    return client;
  };
  // The statements of one turn of the event loop leave in one socket write per connection.
  const corked = new Set<Writable>();
  const uncork = () => {
    for (const stream of corked) stream.uncork();
    corked.clear();
  };
  const cork = (client: pg.Client) => {
    const stream = (client as unknown as { connection?: { stream?: Writable } }).connection?.stream;
    if (stream === undefined || corked.has(stream)) return;
    if (corked.size === 0) setImmediate(uncork);
    stream.cork();
    corked.add(stream);
  };
  return {
    async query(
      text: string,
      values: readonly unknown[],
      name?: string,
    ): Promise<{ rows: unknown[] }> {
      if (closed) throw new Error("the database is closed");
      let i = 0;
      for (let k = 1; k < size; k++) if ((inFlight[k] ?? 0) < (inFlight[i] ?? 0)) i = k;
      const client = clients[i] ?? open(i);
      cork(client);
      inFlight[i] = (inFlight[i] ?? 0) + 1;
      try {
        return await (name === undefined
          ? client.query(text, values as unknown[])
          : client.query({ name, text, values: values as unknown[] }));
      } finally {
        inFlight[i] = (inFlight[i] ?? 1) - 1;
      }
    },
    async close() {
      closed = true;
      await Promise.all(clients.map((c) => c?.end().catch(() => {})));
    },
  };
}

function openPostgres(
  url: string,
  poolSize: number,
  onQuery: DatabaseOptions["onQuery"],
): Database {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: pgTypes });
  // An idle client losing its server (a restart) must not crash the process; the pool replaces it.
  pool.on("error", () => {});
  pool.on("connect", (client) => {
    // A connection dying under a query must fail that query, not the process: without a
    // listener pg re-throws the client's 'error' event (pg-pool only listens while idle).
    client.on("error", () => {});
    prepareStatements(client);
  });
  const db = new Kysely<Schema>({
    dialect: new PostgresDialect({ pool }),
    log: logQueries(onQuery),
  });
  const readers = pipelinedConnections(url, PIPELINED_READERS);
  setStatementRunner(db, {
    run: (text, values, read) => {
      onQuery?.(text);
      return read ? readers.query(text, values) : pool.query(text, values as unknown[]);
    },
  });
  const listeners = new Set<() => Promise<void>>();

  async function listen(channel: string, onNotify: (payload: string) => void) {
    let stopped = false;
    let client: pg.Client | undefined;
    let retryTimer: Timer | undefined;

    const connect = async (delayMs: number): Promise<void> => {
      if (stopped) return;
      const next = new pg.Client({ connectionString: url, types: pgTypes });
      next.on("notification", (message) => onNotify(message.payload ?? ""));
      const reconnect = () => {
        if (client !== next || stopped) return;
        client = undefined;
        next.end().catch(() => {});
        retryTimer = setTimeout(() => void connect(250), delayMs);
      };
      next.on("error", reconnect);
      next.on("end", reconnect);
      client = next;
      try {
        await next.connect();
        await next.query(`listen ${pg.escapeIdentifier(channel)}`);
        // Anything published while we were disconnected is caught by the subscribers' catch-up read.
        onNotify("");
      } catch {
        reconnect();
      }
    };
    await connect(250);

    const stop = async () => {
      stopped = true;
      clearTimeout(retryTimer);
      listeners.delete(stop);
      await client?.end().catch(() => {});
    };
    listeners.add(stop);
    return stop;
  }

  /** The connection of notifications and other statements set aside from the pool. */
  const asides = pipelinedConnections(url, 1);

  async function aside(name: string, text: string, values: unknown[]): Promise<void> {
    await asides.query(text, values, name);
  }

  return {
    kind: "postgres",
    db,
    listen,
    notify: (channel, payload) =>
      aside("notify", "select set_config('synchronous_commit', 'off', true), pg_notify($1, $2)", [
        channel,
        payload,
      ]),
    aside,
    poolUse: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      await Promise.all([...listeners].map((stop) => stop()));
      await asides.close();
      await readers.close();
      await db.destroy();
    },
  };
}

async function openEmbedded(
  dataDir: string | undefined,
  loadDataDir: Blob | undefined,
  onQuery: DatabaseOptions["onQuery"],
): Promise<Database> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  const pglite = new PGlite(dataDir === undefined ? undefined : join(dataDir, "pgdata"), {
    loadDataDir,
  });
  await pglite.waitReady;
  const db = new Kysely<Schema>({ dialect: new PGliteDialect(pglite), log: logQueries(onQuery) });
  return {
    kind: "embedded",
    db,
    async listen(channel, onNotify) {
      return pglite.listen(channel, onNotify);
    },
    close: () => db.destroy(),
  };
}

/**
 * pg already checks the certificate and host name for sslmode prefer, require and verify-ca as
 * for verify-full, and prints a multi-line warning saying so: naming verify-full states the same
 * behaviour without it. `uselibpqcompat=true` keeps libpq's meanings.
 */
export function postgresConnectionString(url: string): string {
  const parsed = new URL(url);
  const mode = parsed.searchParams.get("sslmode");
  if (parsed.searchParams.get("uselibpqcompat") === "true") return url;
  if (mode !== "prefer" && mode !== "require" && mode !== "verify-ca") return url;
  parsed.searchParams.set("sslmode", "verify-full");
  return parsed.toString();
}

/** One connection and one query within timeoutMs: resolves when the server, role and database answer. */
export async function checkConnection(url: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({
    connectionString: postgresConnectionString(url),
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
  } finally {
    await client.end().catch(() => {});
  }
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl === undefined
    ? openEmbedded(options.dataDir, options.loadDataDir, options.onQuery)
    : openPostgres(
        postgresConnectionString(options.databaseUrl),
        options.poolSize ?? 20,
        options.onQuery,
      );
}

export async function migrate(db: Db): Promise<string[]> {
  // The service's role may not create or lock tables: nothing to do once the owner migrated.
  if (await migrated(db)) return [];
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/** True when every known migration is recorded as applied. */
export async function migrated(db: Db): Promise<boolean> {
  const known = Object.keys(await migrationProvider.getMigrations());
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    const applied = new Set(rows.map((r) => r.name));
    return known.every((name) => applied.has(name));
  } catch {
    return false;
  }
}

export { isUniqueViolation } from "./errors";
