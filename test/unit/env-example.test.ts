/**
 * `.env.example` lists every setting of the README's Configuration table, at the table's
 * default, commented out (so a copy changes nothing until a line is uncommented).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const example = readFileSync(join(root, ".env.example"), "utf8");

/** The variables of the Configuration table, in its order. */
function tableVariables(): string[] {
  const section = readme.slice(readme.indexOf("## Configuration"));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| variable")));
  return [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)`/gm)].map((m) => m[1] ?? "");
}

test("every setting of the README's table, commented out", () => {
  const documented = tableVariables();
  expect(documented).toContain("PORT");
  expect(documented).toContain("METRICS_TOKEN");
  const listed = [...example.matchAll(/^# ([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
  expect(documented.filter((name) => !listed.includes(name))).toEqual([]);
  // Nothing is set by a plain copy.
  expect(example.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"))).toEqual(
    [],
  );
});

test("each line shows the table's default where the table gives a literal one", () => {
  const section = readme.slice(readme.indexOf("## Configuration"));
  for (const [, name, value] of section.matchAll(/^\| `([A-Z][A-Z0-9_]*)`\s*\| `([^`]*)`\s*\|/gm)) {
    expect({ name, line: example.match(new RegExp(`^# ${name}=.*$`, "m"))?.[0] }).toEqual({
      name,
      line: `# ${name}=${value}`,
    });
  }
});
