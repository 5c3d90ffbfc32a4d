/** The HTML shell every email shares; the wording lives with the feature that sends it. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** `lang` and `dir` (rtl for Arabic, Hebrew…) make readers and mail clients lay it out right. */
export function htmlDocument(
  title: string,
  body: string,
  language: { lang: string; dir: "ltr" | "rtl" } = { lang: "en", dir: "ltr" },
): string {
  return [
    "<!doctype html>",
    `<html lang="${escapeHtml(language.lang)}" dir="${language.dir}">`,
    '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#111">',
    body,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
