import type { UserEvent, UserRegistered } from "../../events/user";

export type RegisterUser = {
  type: "RegisterUser";
  userId: string;
  sealedEmail: string;
  sealedPasswordHash: string;
  sealedLocale?: string;
};

export type AccountCommand = RegisterUser;

export type AccountState = { status: "unknown" } | { status: "active"; userId: string };

export type AccountRejection = { rejected: "email already registered" };

export const initialAccountState: AccountState = { status: "unknown" };

export function evolveAccount(state: AccountState, event: UserEvent): AccountState {
  switch (event.type) {
    case "UserRegistered":
      return { status: "active", userId: event.data.userId };
    case "PersonalDataErased":
      return { status: "unknown" };
    default:
      return state;
  }
}

/** `emailTaken` comes from the users read model: uniqueness spans streams. */
export function decideAccount(
  command: AccountCommand,
  state: AccountState,
  context: { emailTaken: boolean },
): UserRegistered[] | AccountRejection {
  switch (command.type) {
    case "RegisterUser":
      if (state.status !== "unknown" || context.emailTaken) {
        return { rejected: "email already registered" };
      }
      return [
        {
          type: "UserRegistered",
          data: {
            userId: command.userId,
            sealedEmail: command.sealedEmail,
            sealedPasswordHash: command.sealedPasswordHash,
            ...(command.sealedLocale === undefined ? {} : { sealedLocale: command.sealedLocale }),
          },
        },
      ];
  }
}
