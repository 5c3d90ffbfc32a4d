import { activeResetCodesProjection } from "../projections/active-reset-codes";
import {
  PASSWORD_CHANGED_MAILER,
  passwordChangedMailer,
} from "../projections/password-changed-mailer";
import { RESET_MAILER, resetMailer } from "../projections/reset-mailer";
import { sentMessagesProjection } from "../projections/sent-messages";
import { sessionsProjection } from "../projections/sessions";
import { usersProjection } from "../projections/users";
import type { Config } from "./config";
import type { AppContext } from "./context";
import { type Database, type Db, migrate, openDatabase } from "./db";
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
import { startSweeping } from "./maintenance";
import { DispatchOutcomes } from "./password-reset/outcomes";
import { DataKeys, deriveKeyring, type Keyring, loadOrCreateDevSecret } from "./privacy";

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

export interface Core {
  database: Database;
  db: Db;
  keyring: Keyring;
  bus: EventBus;
  store: EventStore;
  dataKeys: DataKeys;
}

/** The database, keys and event store with its inline projections: what every entry point needs. */
export async function openCore(config: Config, database?: Database): Promise<Core> {
  const db =
    database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  await migrate(db.db);
  const keyring = deriveKeyring(config.secretKey ?? loadOrCreateDevSecret(config.dataDir));
  const bus = new EventBus();
  const store = new EventStore(db.db, bus);
  const dataKeys = new DataKeys(db.db, keyring);
  store.registerInline(usersProjection({ dataKeys, keyring }));
  store.registerInline(activeResetCodesProjection);
  store.registerInline(sessionsProjection);
  store.registerInline(sentMessagesProjection);
  return { database: db, db: db.db, keyring, bus, store, dataKeys };
}

/** The composition root: the core, the mailer, the subscriptions, and their start and stop. */
export async function createRuntime(
  config: Config,
  options: RuntimeOptions = {},
): Promise<Runtime> {
  const log = options.log ?? createLogger();
  const { database, keyring, bus, store, dataKeys } = await openCore(config, options.database);

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
  let stopSweeping: (() => void) | undefined;

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
        else if (decoded.processId !== store.id) {
          // Another process may have erased a user: drop cached keys of the streams it wrote.
          const streams = decoded.signal.streamIds;
          if (streams.length === 0) dataKeys.forgetAll();
          for (const id of streams) if (id.startsWith("user-")) dataKeys.forget(id.slice(5));
          bus.emit("commit", decoded.signal);
        }
      });
      for (const subscription of subscriptions) subscription.start();
      stopSweeping = startSweeping(database.db, log);
    },
    async stop() {
      stopSweeping?.();
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
