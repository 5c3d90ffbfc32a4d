/**
 * A CPU profile of the server under the trigger load: `bun --cpu-prof` while wrk drives 16
 * connections (provider at once), then the hottest functions by self time. The profile file
 * is left in PROFILE_DIR (default: a temporary directory) for a closer look.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeMailgun } from "../test/support/fake-mailgun";
import { listeningPort } from "../test/support/server";
import { table } from "./report";
import { benchServerEnv, createBenchDatabase, ensureTools, seedUsers, sh } from "./support";

const USERS = 5_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** The package (or the project's own directory) a frame's code lives in. */
function moduleOf(url: string): string | undefined {
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (pkg) return pkg[1];
  const own = url.match(/\/((?:src|projections|events)\/[^/]+)/);
  return own ? own[1]?.replace(/\.ts$/, "") : undefined;
}

async function main() {
  await ensureTools();
  const dir = process.env.PROFILE_DIR ?? mkdtempSync(join(tmpdir(), "reset-profile-"));
  const database = await createBenchDatabase();
  const secretKey = randomBytes(32).toString("hex");
  const fake = await startFakeMailgun();
  try {
    await seedUsers(database.url, secretKey, USERS);
    const child = Bun.spawn(["bun", "--cpu-prof", `--cpu-prof-dir=${dir}`, "src/main.ts"], {
      cwd: join(import.meta.dir, ".."),
      env: { ...process.env, PORT: "0", ...benchServerEnv(database.url, secretKey, fake) },
      stdout: "ignore",
      stderr: "pipe",
    });
    let output = "";
    const decoder = new TextDecoder();
    let port = 0;
    const reader = child.stderr.getReader();
    while (port === 0) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`server exited:\n${output}`);
      output += decoder.decode(value);
      port = listeningPort(output) ?? 0;
    }
    // Keep draining the log so the server never blocks on a full pipe.
    void (async () => {
      while (!(await reader.read()).done) {}
    })();
    const url = `http://127.0.0.1:${port}`;
    await sh(["wrk", "-t2", "-c16", "-d2s", "-s", join(import.meta.dir, "trigger.lua"), url], {
      env: { BENCH_USERS: String(USERS) },
    });
    const out = await sh(
      ["wrk", "-t2", "-c16", `-d${SECONDS}s`, "-s", join(import.meta.dir, "trigger.lua"), url],
      { env: { BENCH_USERS: String(USERS) } },
    );
    process.stderr.write(out);
    child.kill("SIGTERM");
    await child.exited;
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    if (file === undefined) throw new Error(`no profile written to ${dir}`);
    const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
      nodes: ProfileNode[];
      samples: number[];
    };
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    for (const id of profile.samples) {
      const frame = byId.get(id)?.callFrame;
      const where = frame?.url.replace(/^.*node_modules\//, "").replace(/^.*\/wt\d+\//, "") ?? "";
      const key = `${frame?.functionName || "(anonymous)"} ${where}:${frame?.lineNumber ?? 0}`;
      self.set(key, (self.get(key) ?? 0) + 1);
    }
    const total = profile.samples.length;
    // Inclusive: a sample counts once for every module on its stack.
    const parent = new Map<number, number>();
    for (const node of profile.nodes)
      for (const child of node.children ?? []) parent.set(child, node.id);
    const inclusive = new Map<string, number>();
    for (const id of profile.samples) {
      const seen = new Set<string>();
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const name = moduleOf(byId.get(at)?.callFrame.url ?? "");
        if (name !== undefined) seen.add(name);
      }
      for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + 1);
    }
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25);
    console.log(`profile: ${join(dir, file)} (${total} samples)`);
    console.log(
      table(
        ["self %", "function"],
        top.map(([k, n]) => [((100 * n) / total).toFixed(1), `\`${k}\``]),
      ),
    );
    console.log(
      table(
        ["inclusive %", "module"],
        [...inclusive]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 25)
          .map(([k, n]) => [((100 * n) / total).toFixed(1), `\`${k}\``]),
      ),
    );
  } finally {
    await fake.stop();
    await database.drop();
  }
}

await main();
