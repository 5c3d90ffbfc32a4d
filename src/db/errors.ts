/** True for PostgreSQL's unique_violation, optionally on one named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; message?: string } | undefined;
  if (e?.code !== "23505") return false;
  if (constraint === undefined) return true;
  // The embedded database reports the constraint only inside the message.
  return e.constraint === constraint || (e.message ?? "").includes(constraint);
}
