import type { Config } from "./config";
import type { Database, Db } from "./db";
import type { EventBus, EventStore, Subscription } from "./event-store";
import type { Logger } from "./log";
import type { Mailer } from "./mail/mailer";
import type { Metrics } from "./observability/metrics";
import type { DispatchOutcomes } from "./password-reset/outcomes";
import type { CodeKeys, DataKeys, IpHashes, Keyring } from "./privacy";

/** Everything a feature needs at run time, built once by the composition root (src/runtime.ts). */
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
  readonly metrics: Metrics;
  readonly resetOutcomes: DispatchOutcomes;
  readonly subscriptions: Subscription[];
}
