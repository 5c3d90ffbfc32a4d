/** Locales: a tag's canonical form, and the best of the shipped ones for an Accept-Language. */

/** The canonical BCP 47 form of `tag` (`pt-br` → `pt-BR`); undefined when it is not one. */
export function canonicalLocale(tag: string): string | undefined {
  if (tag.length === 0 || tag.length > 64) return undefined;
  try {
    return Intl.getCanonicalLocales(tag)[0];
  } catch {
    return undefined;
  }
}

interface Range {
  tag: string;
  q: number;
  order: number;
}

function ranges(header: string): Range[] {
  const parsed: Range[] = [];
  header.split(",").forEach((part, order) => {
    const [rawTag, ...params] = part.trim().split(";");
    const tag = rawTag?.trim() ?? "";
    if (tag === "") return;
    let q = 1;
    for (const param of params) {
      const [name, value] = param.split("=").map((s) => s.trim());
      if (name?.toLowerCase() === "q")
        q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value ?? "") ? Number(value) : 0;
    }
    if (q > 0) parsed.push({ tag, q, order });
  });
  // Highest weight first; equal weights keep the client's order.
  return parsed.sort((a, b) => b.q - a.q || a.order - b.order);
}

/**
 * The shipped locale an Accept-Language header prefers most: an exact tag first, then the same
 * language (`de-AT` → `de`, `pt` → `pt-BR`), range by range in order of weight. Undefined when
 * none fits (or only `*`): the caller's default applies.
 */
export function negotiateLocale(
  header: string | null | undefined,
  shipped: readonly string[],
): string | undefined {
  if (!header) return undefined;
  const lower = shipped.map((locale) => locale.toLowerCase());
  const language = (tag: string) => tag.toLowerCase().split("-")[0];
  for (const { tag } of ranges(header.slice(0, 1024))) {
    if (tag === "*") return undefined;
    const exact = lower.indexOf(tag.toLowerCase());
    if (exact >= 0) return shipped[exact];
    const sameLanguage = shipped.find((locale) => language(locale) === language(tag));
    if (sameLanguage) return sameLanguage;
  }
  return undefined;
}
