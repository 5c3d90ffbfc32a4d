import { isValidEmail, normaliseEmail } from "../accounts/rules";
import { HttpError } from "../http/errors";

export const triggerMessages = {
  required: "email is required",
  invalid: "invalid email format",
  notFound: "user not found",
  sent: "password reset email sent successfully",
} as const;

/** The trigger's request checks, in the seed's order. Returns the normalised email. */
export function parseTriggerBody(body: Record<string, unknown>): string {
  const { email } = body;
  if (typeof email !== "string" || email.trim() === "") {
    throw new HttpError(400, triggerMessages.required);
  }
  const normalised = normaliseEmail(email);
  if (!isValidEmail(normalised)) throw new HttpError(400, triggerMessages.invalid);
  return normalised;
}
