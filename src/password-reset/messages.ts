import { escapeHtml, htmlDocument } from "../mail/html";
import type { MailMessage, MailTemplate } from "../mail/mailer";
import { formatResetCode } from "./code";

export const PASSWORD_RESET_SUBJECT = "Reset your password";
export const PASSWORD_RESET_TAG = "password-reset";
export const PASSWORD_CHANGED_SUBJECT = "Your password was changed";
export const PASSWORD_CHANGED_TAG = "password-changed";

export interface PasswordResetMessageInput {
  to: string;
  from: string;
  code: string;
  expiresInMinutes: number;
}

export interface PasswordChangedMessageInput {
  to: string;
  from: string;
}

function minutes(n: number): string {
  return n === 1 ? "1 minute" : `${n} minutes`;
}

/** The recipient variable that carries each recipient's own code in a batch. */
export const CODE_VARIABLE = "code";

export function passwordResetMessage(input: PasswordResetMessageInput): MailMessage {
  return {
    to: input.to,
    ...resetMessageShowing(formatResetCode(input.code), input),
  };
}

/** The reset email for batch sending: the code is each recipient's `%recipient.code%`. */
export function passwordResetTemplate(input: Omit<PasswordResetMessageInput, "to" | "code">) {
  return resetMessageShowing(`%recipient.${CODE_VARIABLE}%`, input);
}

function resetMessageShowing(
  shown: string,
  input: { from: string; expiresInMinutes: number },
): MailTemplate {
  const lifetime = minutes(input.expiresInMinutes);
  const text = [
    "Hello,",
    "",
    "We received a request to reset the password of your account.",
    "Enter this code to choose a new password:",
    "",
    shown,
    "",
    `The code expires in ${lifetime} and works only once.`,
    "If you did not ask for a password reset, ignore this email: your password stays unchanged.",
    "",
  ].join("\n");
  const html = htmlDocument(
    PASSWORD_RESET_SUBJECT,
    [
      "<p>Hello,</p>",
      "<p>We received a request to reset the password of your account.<br>",
      "Enter this code to choose a new password:</p>",
      '<p style="font-family:Consolas,Menlo,monospace;font-size:24px;font-weight:bold;letter-spacing:2px">',
      escapeHtml(shown),
      "</p>",
      `<p>The code expires in ${escapeHtml(lifetime)} and works only once.</p>`,
      "<p>If you did not ask for a password reset, ignore this email: your password stays unchanged.</p>",
    ].join("\n"),
  );
  return {
    from: input.from,
    subject: PASSWORD_RESET_SUBJECT,
    text,
    html,
    tags: [PASSWORD_RESET_TAG],
  };
}

export function passwordChangedMessage(input: PasswordChangedMessageInput): MailMessage {
  const text = [
    "Hello,",
    "",
    "The password of your account was just changed, and every session that was signed in has been",
    "signed out.",
    "",
    "If this was you, there is nothing else to do.",
    "If it was not you, reset your password right away and contact support.",
    "",
  ].join("\n");
  const html = htmlDocument(
    PASSWORD_CHANGED_SUBJECT,
    [
      "<p>Hello,</p>",
      "<p>The password of your account was just changed, and every session that was signed in has been signed out.</p>",
      "<p>If this was you, there is nothing else to do.</p>",
      "<p>If it was not you, reset your password right away and contact support.</p>",
    ].join("\n"),
  );
  return {
    to: input.to,
    from: input.from,
    subject: PASSWORD_CHANGED_SUBJECT,
    text,
    html,
    tags: [PASSWORD_CHANGED_TAG],
  };
}
