/**
 * Rotating an audit token (README: Rotating keys) with the server as a process, restarted on
 * the same database: the new token is added beside the old, both work, the old is removed, and
 * from that restart on the old token gets 401 while the new one reads and erases under its name.
 */
import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { register, uniqueEmail, useDeployment } from "../support/e2e";
import type { ServerProcess } from "../support/server";
import { waitFor } from "../support/wait";

const OLD = randomBytes(24).toString("base64url");
const NEW = randomBytes(24).toString("base64url");
const READER = randomBytes(24).toString("base64url");

const deployment = useDeployment();
let server: ServerProcess | undefined;

/** Stops the running server and starts one with these tokens on the same database. */
async function restartWith(tokens: string): Promise<ServerProcess> {
  await server?.stop();
  server = await deployment.start({ AUDIT_TOKENS: tokens });
  return server;
}

const status = async (s: ServerProcess, token: string, path = "/v1/audit/events?limit=1") =>
  (await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;

const erase = async (s: ServerProcess, token: string, userId: string) =>
  (
    await fetch(`${s.url}/v1/audit/users/${userId}/personal-data`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${token}` },
    })
  ).status;

test("add the new token, restart, remove the old, restart: the old one then gets 401", async () => {
  let running = await restartWith(`ops-2026:erase:${OLD},auditors:read:${READER}`);
  expect(await status(running, OLD)).toBe(200);
  expect(await status(running, NEW)).toBe(401);

  running = await restartWith(
    `ops-2027:erase:${NEW},ops-2026:erase:${OLD},auditors:read:${READER}`,
  );
  for (const token of [OLD, NEW, READER]) expect(await status(running, token)).toBe(200);
  const before = await register(running.url, uniqueEmail("rotation-before"));
  expect(await erase(running, OLD, before.id)).toBe(204);

  running = await restartWith(`ops-2027:erase:${NEW},auditors:read:${READER}`);
  expect(await status(running, OLD)).toBe(401);
  expect(await status(running, OLD, "/v1/audit/stats")).toBe(401);
  const after = await register(running.url, uniqueEmail("rotation-after"));
  expect(await erase(running, OLD, after.id)).toBe(401);
  expect(await erase(running, READER, after.id)).toBe(403);
  expect(await erase(running, NEW, after.id)).toBe(204);
  expect(await status(running, READER, "/v1/audit/stats")).toBe(200);
  const statusPage = await fetch(`${running.url}/audit/status`);
  expect(await statusPage.json()).toEqual({ enabled: true });

  // Each erasure names the token that made it, before and after the rotation.
  const erasedBy = async (userId: string) => {
    const res = await fetch(
      `${running.url}/v1/audit/events?user_id=${userId}&type=PersonalDataErased`,
      { headers: { authorization: `Bearer ${READER}` } },
    );
    const body = (await res.json()) as { events: { data: { erasedBy?: string } }[] };
    return body.events[0]?.data.erasedBy;
  };
  await waitFor(async () => (await erasedBy(after.id)) !== undefined, {
    what: "the erasure in the audit API",
  });
  expect(await erasedBy(before.id)).toBe("ops-2026");
  expect(await erasedBy(after.id)).toBe("ops-2027");
  expect(running.output()).not.toContain(OLD);
  expect(running.output()).not.toContain(NEW);
});
