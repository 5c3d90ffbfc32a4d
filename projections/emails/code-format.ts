const GROUP_SIZE = 4;

/** A reset code as the email shows it: groups of four, joined by dashes (typed back either way). */
export function formatResetCode(code: string): string {
  const compact = code.replace(/[\s-]/g, "").toUpperCase();
  const groups: string[] = [];
  for (let i = 0; i < compact.length; i += GROUP_SIZE) {
    groups.push(compact.slice(i, i + GROUP_SIZE));
  }
  return groups.join("-");
}
