import { isValidEmail, normaliseEmail, passwordProblem, presentString } from "../accounts/rules";
import { HttpError } from "../http/errors";

export const triggerMessages = {
  required: "email is required",
  invalid: "invalid email format",
  notFound: "user not found",
  sent: "password reset email sent successfully",
} as const;

/** The trigger's request checks, in the documented order. Returns the normalised email. */
export function parseTriggerBody(body: Record<string, unknown>): string {
  const { email } = body;
  if (typeof email !== "string" || email.trim() === "") {
    throw new HttpError(400, triggerMessages.required);
  }
  const normalised = normaliseEmail(email);
  if (!isValidEmail(normalised)) throw new HttpError(400, triggerMessages.invalid);
  return normalised;
}

export const resetMessages = {
  required: "code and new_password are required",
  invalidCode: "invalid or expired password reset code",
  done: "password reset successfully",
} as const;

export interface ResetRequest {
  code: string;
  newPassword: string;
  /** Normalised; undefined when not given. */
  email: string | undefined;
}

/** The reset's checks in the documented order: fields, then the password rules (the code comes later). */
export function parseResetBody(body: Record<string, unknown>): ResetRequest {
  const { code, new_password: newPassword, email } = body;
  if (!presentString(code) || !presentString(newPassword)) {
    throw new HttpError(400, resetMessages.required);
  }
  const problem = passwordProblem(newPassword);
  if (problem) throw new HttpError(400, problem);
  return {
    code,
    newPassword,
    email: typeof email === "string" && email.trim() !== "" ? normaliseEmail(email) : undefined,
  };
}
