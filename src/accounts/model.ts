import { HttpError } from "../http/errors";
import { isValidEmail, normaliseEmail, passwordProblem, presentString } from "./rules";

export interface Credentials {
  email: string;
  password: string;
}

/** Register's checks in the documented order: fields, email format, password rules. */
export function parseRegistration(body: Record<string, unknown>): Credentials {
  const { email, password } = body;
  if (!presentString(email) || !presentString(password)) {
    throw new HttpError(400, "email and password are required");
  }
  const normalised = normaliseEmail(email);
  if (!isValidEmail(normalised)) throw new HttpError(400, "invalid email format");
  const problem = passwordProblem(password);
  if (problem) throw new HttpError(400, problem);
  return { email: normalised, password };
}

/** Login takes any strings: a wrong format is just wrong credentials. */
export function parseLogin(body: Record<string, unknown>): Credentials {
  const { email, password } = body;
  if (!presentString(email) || !presentString(password)) {
    throw new HttpError(400, "email and password are required");
  }
  return { email: normaliseEmail(email), password };
}

export interface PublicUser {
  id: string;
  email: string;
  created_at: string;
}

export const examples = {
  user: {
    id: "0193b8f2-5c4e-7d3a-9f10-2b6c8d4e1a77",
    email: "user@example.com",
    created_at: "2026-11-27T10:00:00.000Z",
  },
};
