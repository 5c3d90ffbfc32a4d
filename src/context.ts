import type { EmailCatalog } from "../projections/emails/catalog";
import type { Config } from "./config";
import type { Database, Db } from "./db";
import type { EventBus, EventStore, Subscription } from "./event-store";
import type { Logger } from "./log";
import type { MailCatcher } from "./mail/catcher";
import type { Mailer } from "./mail/mailer";
import type { Metrics } from "./observability/metrics";
import type { CodeKeys, DataKeys, IpHashes, Keyring } from "./privacy";

/**
 * The running service, built once by the composition root (src/runtime.ts): what every feature
 * receives, and its start and stop.
 */
export interface AppContext {
  readonly config: Config;
  readonly database: Database;
  readonly db: Db;
  readonly bus: EventBus;
  readonly store: EventStore;
  readonly keyring: Keyring;
  readonly dataKeys: DataKeys;
  readonly codeKeys: CodeKeys;
  readonly ipHashes: IpHashes;
  readonly log: Logger;
  readonly mailer: Mailer;
  /** Both emails in every language, the deployment's templates over the shipped ones. */
  readonly emails: EmailCatalog;
  /** The console mailer's last emails, outside production only; undefined with a real mailer. */
  readonly mailCatcher: MailCatcher | undefined;
  readonly metrics: Metrics;
  readonly subscriptions: Subscription[];
  /** Starts the subscriptions (and their catch-up from the stored checkpoints). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The database, keys and event store with its inline projections: what every entry point needs. */
export type CoreContext = Pick<
  AppContext,
  "database" | "db" | "keyring" | "bus" | "store" | "dataKeys" | "codeKeys" | "ipHashes"
>;
