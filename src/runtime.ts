import { activeResetCodesProjection } from "../projections/active-reset-codes";
import {
  PASSWORD_CHANGED_MAILER,
  passwordChangedMailer,
} from "../projections/password-changed-mailer";
import { RESET_MAILER, resetMailer } from "../projections/reset-mailer";
import { sessionsProjection } from "../projections/sessions";
import { usersProjection } from "../projections/users";
import type { Config } from "./config";
import type { AppContext } from "./context";
import { type Database, migrate, openDatabase } from "./db";
import {
  decodeNotification,
  EventBus,
  EventStore,
  NOTIFY_CHANNEL,
  type ReactorHandler,
  Subscription,
} from "./event-store";
import { createLogger, type Logger } from "./log";
import { createConsoleMailer } from "./mail/console";
import type { Mailer } from "./mail/mailer";
import { createMailgunMailer } from "./mail/mailgun";
import { DispatchOutcomes } from "./password-reset/outcomes";
import { DataKeys, deriveKeyring, loadOrCreateDevSecret } from "./privacy";

export interface Runtime extends AppContext {
  /** Starts the subscriptions (and their catch-up from the stored checkpoints). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  log?: Logger;
  /** An already open database (tests); otherwise opened from the config. */
  database?: Database;
  mailer?: Mailer;
  /** How long a subscription lease lasts; a dead owner is replaced after at most this. */
  leaseMs?: number;
}

/** The composition root: config → database → migrations → store, projections, subscriptions. */
export async function createRuntime(
  config: Config,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const log = options.log ?? createLogger();
  const database =
    options.database ??
    (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  await migrate(database.db);

  const secret = config.secretKey ?? loadOrCreateDevSecret(config.dataDir);
  const keyring = deriveKeyring(secret);
  const bus = new EventBus();
  const store = new EventStore(database.db, bus);
  const dataKeys = new DataKeys(database.db, keyring);
  store.registerInline(usersProjection({ dataKeys, keyring }));
  store.registerInline(activeResetCodesProjection);
  store.registerInline(sessionsProjection);

  const mailer = options.mailer ?? chooseMailer(config, log);
  const mailerDeps = { db: database.db, store, dataKeys, mailer, mailFrom: config.mailFrom, log };
  const subscribe = (name: string, types: string[], handler: ReactorHandler) =>
    new Subscription(database.db, store, bus, {
      name,
      types,
      handler,
      leaseMs: options.leaseMs,
      log: (message, error) => log.error(message, { error }),
    });
  const subscriptions = [
    subscribe(RESET_MAILER, ["PasswordResetRequested"], resetMailer(mailerDeps)),
    subscribe(PASSWORD_CHANGED_MAILER, ["PasswordChanged"], passwordChangedMailer(mailerDeps)),
  ];
  let unlisten: (() => Promise<void>) | undefined;

  return {
    config,
    database,
    db: database.db,
    bus,
    store,
    keyring,
    dataKeys,
    log,
    mailer,
    resetOutcomes: new DispatchOutcomes(store, bus),
    subscriptions,
    async start() {
      unlisten = await database.listen(NOTIFY_CHANNEL, (payload) => {
        const decoded = decodeNotification(payload);
        if (decoded === undefined) bus.emit("commit", { transactionId: "0", streamIds: [] });
        else if (decoded.processId !== store.id) bus.emit("commit", decoded.signal);
      });
      for (const subscription of subscriptions) subscription.start();
    },
    async stop() {
      await Promise.all(subscriptions.map((s) => s.stop()));
      await unlisten?.();
      await database.close();
    },
  };
}

function chooseMailer(config: Config, log: Logger): Mailer {
  if (config.mailgun) return createMailgunMailer(config.mailgun);
  log.warn("MAILGUN_API_KEY is not set: emails are printed to stdout, not sent");
  return createConsoleMailer();
}
