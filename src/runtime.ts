import { userOfStream } from "../events/user";
import { type EmailCatalog, emailCatalogOf } from "../projections/emails/catalog";
import { type Config, ConfigError } from "./config";
import type { AppContext, CoreContext, SubscriberDeps } from "./context";
import { type Database, migrate, openDatabase } from "./db";
import {
  CommitNotifier,
  decodeNotification,
  EventBus,
  EventStore,
  NOTIFY_CHANNEL,
  type ReactorHandler,
  Subscription,
} from "./event-store";
import {
  sweeps as featureSweeps,
  inlineProjections,
  startBackground,
  subscribers,
} from "./features";
import { createLogger, type Logger } from "./log";
import type { MailBatcherOptions } from "./mail/batch";
import { MailCatcher } from "./mail/catcher";
import { createConsoleMailer } from "./mail/console";
import { createFailoverMailer } from "./mail/failover";
import { createHookMailer } from "./mail/hook";
import type { Mailer } from "./mail/mailer";
import { createMailgunMailer } from "./mail/mailgun";
import { databaseSendMarks, sweepSendMarks } from "./mail/send-marks";
import { createSmtpMailer } from "./mail/smtp";
import { type Sweep, startSweeping } from "./maintenance";
import {
  instrumentMailer,
  instrumentStore,
  metricsSources,
  tracedReactor,
} from "./observability/instrument";
import { Metrics } from "./observability/metrics";
import { verifySecretKeys } from "./operations/startup";
import { CodeKeys, DataKeys, deriveKeyring, IpHashes, loadOrCreateDevSecret } from "./privacy";
import { sweepLimits } from "./rate-limits/store";

export interface RuntimeOptions {
  log?: Logger;
  /** An already open database (tests); otherwise opened from the config. */
  database?: Database;
  mailer?: Mailer;
  /** How long a subscription lease lasts; a dead owner is replaced after at most this. */
  leaseMs?: number;
  /** How reset emails are batched (provider calls in flight, recipients per call). */
  mailBatching?: MailBatcherOptions;
  /** The emails, already built (main builds them first, so a bad template stops start-up early). */
  emails?: EmailCatalog;
}

/**
 * Each read model's sweep of its rows that only matter while live: the shared parts' (limits,
 * send marks) and every feature's.
 */
export const readModelSweeps: readonly Sweep[] = [sweepLimits, sweepSendMarks, ...featureSweeps()];

/** Opens the core every entry point needs; a CLI that only reads the log needs no more. */
export async function openCore(config: Config, database?: Database): Promise<CoreContext> {
  const db =
    database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  await migrate(db.db);
  const keyring = deriveKeyring(config.secretKey ?? [loadOrCreateDevSecret(config.dataDir)]);
  const bus = new EventBus();
  const store = new EventStore(db.db, bus);
  instrumentStore(store);
  const dataKeys = new DataKeys(db.db, keyring);
  const codeKeys = new CodeKeys(db.db, keyring);
  for (const projection of inlineProjections({ db: db.db, keyring, dataKeys, codeKeys })) {
    store.registerInline(projection);
  }
  const ipHashes = new IpHashes(db.db, keyring);
  return { database: db, db: db.db, keyring, bus, store, dataKeys, codeKeys, ipHashes };
}

/** The composition root: the core, the mailer, the subscriptions, and their start and stop. */
export async function createRuntime(
  config: Config,
  options: RuntimeOptions = {},
): Promise<AppContext> {
  const log = options.log ?? createLogger();
  const emails = options.emails ?? emailCatalogOf(config);
  const core = await openCore(config, options.database);
  await verifySecretKeys(core, log);
  const { database, bus, store, dataKeys, codeKeys } = core;

  const subscribed: { name: string; types: string[] }[] = [];
  const metrics = new Metrics(metricsSources(database, subscribed));
  const chosen = options.mailer
    ? { mailer: instrumentMailer(options.mailer, metrics) }
    : chooseMailer(config, log, metrics);
  const { mailer } = chosen;
  const subscriberDeps: SubscriberDeps = {
    db: database.db,
    store,
    dataKeys,
    codeKeys,
    mailer,
    marks: databaseSendMarks(database),
    emails,
    log,
    mailBatching: options.mailBatching,
  };
  const subscribe = (name: string, types: string[], handler: ReactorHandler) => {
    subscribed.push({ name, types });
    return new Subscription(database.db, store, bus, {
      name,
      types,
      handler: tracedReactor(name, handler),
      leaseMs: options.leaseMs,
      log,
    });
  };
  const subscriptions = subscribers().map((s) =>
    subscribe(s.name, s.types, s.handler(subscriberDeps)),
  );
  // One process on the embedded database: nobody else to tell.
  const notify = database.notify;
  const notifier = notify
    ? new CommitNotifier((payload) => notify(NOTIFY_CHANNEL, payload), bus, store.id, { log })
    : undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let stopSweeping: (() => void) | undefined;
  let background: { stop(): Promise<void> } | undefined;

  const runtime: AppContext = {
    ...core,
    config,
    log,
    mailer,
    emails,
    mailCatcher: chosen.catcher,
    metrics,
    subscriptions,
    async start() {
      unlisten = await database.listen(NOTIFY_CHANNEL, (payload) => {
        const decoded = decodeNotification(payload);
        if (decoded === undefined) bus.emit("commit", { transactionId: "0", streamIds: [] });
        else if (decoded.processId !== store.id) {
          // Another process may have erased a user: drop cached keys of the streams it wrote.
          const streams = decoded.signal.streamIds;
          if (streams.length === 0) dataKeys.forgetAll();
          for (const id of streams) {
            const userId = userOfStream(id);
            if (userId !== undefined) dataKeys.forget(userId);
          }
          bus.emit("commit", decoded.signal);
        }
      });
      notifier?.start();
      for (const subscription of subscriptions) subscription.start();
      stopSweeping = startSweeping(database.db, log, readModelSweeps);
      background = startBackground(runtime);
    },
    async stop() {
      stopSweeping?.();
      await background?.stop();
      metrics.stop();
      mailer.close?.();
      await Promise.all(subscriptions.map((s) => s.stop()));
      await notifier?.stop();
      await unlisten?.();
      await database.close();
    },
  };
  return runtime;
}

/** The transports of MAIL_TRANSPORTS, each counted under its own name, in failover order. */
function chooseMailer(
  config: Config,
  log: Logger,
  metrics: Metrics,
): { mailer: Mailer; catcher?: MailCatcher } {
  let catcher: MailCatcher | undefined;
  const transports = config.mailTransports.map((name): Mailer => {
    switch (name) {
      case "mailgun":
        if (!config.mailgun) throw new ConfigError("MAILGUN_API_KEY", "required by mailgun");
        return createMailgunMailer(config.mailgun);
      case "smtp":
        if (!config.smtp) throw new ConfigError("SMTP_URL", "required by smtp");
        return createSmtpMailer(config.smtp);
      case "hook":
        if (!config.mailHook) throw new ConfigError("MAIL_HOOK_URL", "required by hook");
        return createHookMailer(config.mailHook);
      default:
        // console. Outside production the emails "sent" are also kept for the mail catcher (/dev/mail).
        catcher = config.production ? undefined : new MailCatcher();
        log.warn(
          config.mailgun
            ? "MAIL_TRANSPORTS lists console: emails it takes are printed to stdout, not sent"
            : catcher
              ? "MAILGUN_API_KEY is not set: emails are printed to stdout and shown at /dev/mail, not sent"
              : "MAILGUN_API_KEY is not set: emails are printed to stdout, not sent",
        );
        return createConsoleMailer(undefined, catcher);
    }
  });
  const counted = transports.map((t) => instrumentMailer(t, metrics));
  const [only] = counted;
  const mailer = counted.length === 1 && only ? only : createFailoverMailer(counted);
  return catcher ? { mailer, catcher } : { mailer };
}
