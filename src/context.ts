import type { AnyElysia } from "elysia";
import type { EmailCatalog } from "../projections/emails/catalog";
import type { Config } from "./config";
import type { Database, Db } from "./db";
import type {
  EventBus,
  EventStore,
  InlineProjection,
  ReactorHandler,
  Subscription,
} from "./event-store";
import type { Logger } from "./log";
import type { MailBatcherOptions } from "./mail/batch";
import type { MailCatcher } from "./mail/catcher";
import type { Mailer } from "./mail/mailer";
import type { SendMarks } from "./mail/send-marks";
import type { Sweep } from "./maintenance";
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

/** What an inline projection is built from: the core, before any event is written. */
export type InlineDeps = Pick<CoreContext, "db" | "keyring" | "dataKeys" | "codeKeys">;

/** What a subscriber's handler is built from. */
export interface SubscriberDeps {
  readonly db: Db;
  readonly store: EventStore;
  readonly dataKeys: DataKeys;
  readonly codeKeys: CodeKeys;
  readonly mailer: Mailer;
  readonly marks: SendMarks;
  readonly emails: EmailCatalog;
  readonly log: Logger;
  /** How reset emails are batched (provider calls in flight, recipients per call). */
  readonly mailBatching?: MailBatcherOptions;
}

/** A subscription a feature brings: its name (its checkpoint and lease), its event types, its handler. */
export interface Subscriber {
  readonly name: string;
  readonly types: string[];
  handler(deps: SubscriberDeps): ReactorHandler;
}

/**
 * What a feature brings to the service. The runtime registers the projections and subscribers
 * and the app mounts the routes, each in a loop over the features (src/features.ts).
 */
export interface Feature {
  readonly name: string;
  /** Its HTTP routes, mounted in this order. */
  routes?(ctx: AppContext): AnyElysia[];
  /** Its read models, written in the transaction of the events they read. */
  inlineProjections?(deps: InlineDeps): InlineProjection[];
  readonly subscribers?: readonly Subscriber[];
  /** Its read models' sweeps of rows that only matter while live. */
  readonly sweeps?: readonly Sweep[];
  /**
   * Work it runs while the service runs, started after the subscriptions; `stop` ends it and
   * writes down what it holds, before the subscriptions stop.
   */
  background?(ctx: AppContext): { stop(): Promise<void> };
}
