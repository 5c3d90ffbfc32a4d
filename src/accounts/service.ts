import { randomUUID } from "node:crypto";
import { userStreamId } from "../../events/user";
import { emailLookup } from "../../projections/users";
import type { AppContext } from "../context";
import { isUniqueViolation } from "../db";
import { HttpError } from "../http/errors";
import { seal } from "../privacy";
import { decideAccount, initialAccountState } from "./decider";
import type { Credentials, PublicUser } from "./model";

const emailTaken = () => new HttpError(409, "email already registered");

export async function findUserByEmail(ctx: AppContext, email: string) {
  return ctx.db
    .selectFrom("users")
    .selectAll()
    .where("email_lookup", "=", emailLookup(ctx.keyring, email))
    .executeTakeFirst();
}

export async function registerUser(
  ctx: AppContext,
  credentials: Credentials,
  metadata: { requestId: string },
): Promise<PublicUser> {
  if (await findUserByEmail(ctx, credentials.email)) throw emailTaken();
  const userId = randomUUID();
  const passwordHash = await Bun.password.hash(credentials.password, { algorithm: "argon2id" });
  try {
    await ctx.store.transact(async (trx) => {
      const key = await ctx.dataKeys.create(trx, userId);
      const decision = decideAccount(
        {
          type: "RegisterUser",
          userId,
          sealedEmail: seal(key, userId, credentials.email),
          sealedPasswordHash: seal(key, userId, passwordHash),
        },
        initialAccountState,
        { emailTaken: false },
      );
      if ("rejected" in decision) throw emailTaken();
      const events = decision.map((e) => ({
        ...e,
        metadata: { ...metadata, correlationId: metadata.requestId },
      }));
      return [{ streamId: userStreamId(userId), expectedVersion: 0, events }];
    });
  } catch (error) {
    // Two registrations of one email racing: the read model's unique index decides.
    if (isUniqueViolation(error, "users_email_lookup_key")) throw emailTaken();
    throw error;
  }
  const user = await ctx.db
    .selectFrom("users")
    .select(["id", "created_at"])
    .where("id", "=", userId)
    .executeTakeFirstOrThrow();
  return { id: user.id, email: credentials.email, created_at: user.created_at.toISOString() };
}
