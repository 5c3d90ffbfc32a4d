/** The checks a finished seed must pass, and what it holds by event type. */
import type pg from "pg";
import { emailLookup } from "../../src/privacy";
import type { openCore } from "../../src/runtime";
import type { UserPlan } from "./plan";

/** Cheap checks that the seed holds the invariants the services rely on. */
export async function verify(
  client: pg.Client,
  core: Awaited<ReturnType<typeof openCore>>,
  live: readonly UserPlan[],
  target: number,
): Promise<void> {
  const one = async (query: string) => Number((await client.query(query)).rows[0]?.n);
  const count = await one("select count(*) as n from events");
  if (count !== target) throw new Error(`seeded ${count} events, expected ${target}`);
  const gaps = await one(`select count(*) as n from (select stream_id from events group by stream_id
                          having max(stream_version) <> count(*)) g`);
  if (gaps !== 0) throw new Error(`${gaps} streams have gaps in their versions`);
  const active = await one(
    "select count(*) as n from (select user_id from reset_codes where status = 'active' group by user_id having count(*) > 1) x",
  );
  if (active !== 0) throw new Error(`${active} users have more than one active code`);
  // A sample read back through the service's own DataKeys and the users row.
  core.dataKeys.forgetAll();
  for (const user of live.filter((_, i) => i % Math.ceil(live.length / 50) === 0)) {
    const row = await core.db
      .selectFrom("users")
      .selectAll()
      .where("email_lookup", "=", emailLookup(core.keyring, user.email))
      .executeTakeFirst();
    const email = row && (await core.dataKeys.unseal(row.id, row.sealed_email));
    if (row?.id !== user.id || email !== user.email) {
      throw new Error(`user ${user.n} does not read back`);
    }
  }
}

/** The log's events counted by type, most frequent first. */
export async function countByType(client: pg.Client): Promise<Record<string, number>> {
  const byType: Record<string, number> = {};
  const { rows: types } = await client.query<{ type: string; n: string }>(
    "select type, count(*) as n from events group by type order by 2 desc",
  );
  for (const row of types) byType[row.type] = Number(row.n);
  return byType;
}
