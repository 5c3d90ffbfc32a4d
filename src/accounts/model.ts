import { HttpError } from "../http/errors";
import { canonicalLocale } from "../mail/locale";
import { isValidEmail, normaliseEmail, passwordProblem, presentString } from "./rules";

export interface Credentials {
  email: string;
  password: string;
}

export interface Registration extends Credentials {
  /** The language of the account's emails (canonical BCP 47), when it chose one. */
  locale?: string;
}

/** Register's checks in the documented order: fields, email format, password rules, locale. */
export function parseRegistration(body: Record<string, unknown>): Registration {
  const { email, password, locale } = body;
  if (!presentString(email) || !presentString(password)) {
    throw new HttpError(400, "email and password are required");
  }
  const normalised = normaliseEmail(email);
  if (!isValidEmail(normalised)) throw new HttpError(400, "invalid email format");
  const problem = passwordProblem(password);
  if (problem) throw new HttpError(400, problem);
  if (locale === undefined || locale === null) return { email: normalised, password };
  const canonical = typeof locale === "string" ? canonicalLocale(locale.trim()) : undefined;
  if (canonical === undefined) {
    throw new HttpError(400, "locale must be a BCP 47 language tag, such as en, de or pt-BR");
  }
  return { email: normalised, password, locale: canonical };
}

export interface LoginRequest extends Credentials {
  /** A device token from an earlier login, if the client kept one. */
  deviceToken?: string;
}

/** Login takes any strings: a wrong format is just wrong credentials (or no device token). */
export function parseLogin(body: Record<string, unknown>): LoginRequest {
  const { email, password, device_token: deviceToken } = body;
  if (!presentString(email) || !presentString(password)) {
    throw new HttpError(400, "email and password are required");
  }
  if (deviceToken !== undefined && typeof deviceToken !== "string") {
    throw new HttpError(400, "device_token must be a string");
  }
  return { email: normaliseEmail(email), password, deviceToken };
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
