import { usersProjection } from "../projections/users";
import type { Config } from "./config";
import type { AppContext } from "./context";
import { type Database, migrate, openDatabase } from "./db";
import {
  decodeNotification,
  EventBus,
  EventStore,
  NOTIFY_CHANNEL,
  type Subscription,
} from "./event-store";
import { createLogger, type Logger } from "./log";
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

  const subscriptions: Subscription[] = [];
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
