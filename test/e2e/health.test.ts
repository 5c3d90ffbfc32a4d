/**
 * Readiness follows the database (README: Operating it): a server whose PostgreSQL goes away
 * stays live and answers /v1/health/ready with 503 naming the database, then 200 once it is back.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { onPostgres } from "../support/database";
import { useDeployment } from "../support/e2e";
import type { ServerProcess } from "../support/server";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";
import { waitFor } from "../support/wait";

describe.skipIf(!onPostgres)("readiness when PostgreSQL goes away (TEST_DATABASE_URL)", () => {
  const deployment = useDeployment();
  let proxy: TcpProxy;
  let server: ServerProcess;

  beforeAll(async () => {
    const direct = new URL(deployment.databaseUrl ?? "");
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const through = new URL(direct);
    through.hostname = "127.0.0.1";
    through.port = String(proxy.port);
    server = await deployment.start({ DATABASE_URL: through.toString() });
  });
  afterAll(async () => {
    await proxy?.close();
  });

  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test("503 naming the database while it is cut off, live all along; 200 once it is back", async () => {
    expect(await get("/v1/health/ready")).toMatchObject({ status: 200, body: { status: "ready" } });
    proxy.cut();
    const down = await waitFor(
      async () => {
        const answer = await get("/v1/health/ready");
        return answer.status === 503 && answer;
      },
      { what: "readiness to fail" },
    );
    expect(down.body).toMatchObject({
      status: "not_ready",
      failing: ["database"],
      database: "unavailable",
      migrations: "unknown",
    });
    expect(await get("/v1/health/live")).toEqual({ status: 200, body: { status: "ok" } });
    proxy.restore();
    await waitFor(async () => (await get("/v1/health/ready")).status === 200, {
      what: "readiness once the database is back",
    });
  });
});
