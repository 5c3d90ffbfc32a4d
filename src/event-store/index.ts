export { type CommitSignal, decodeNotification, EventBus, NOTIFY_CHANNEL } from "./bus";
export {
  type Append,
  type Command,
  type CommandHandled,
  type CommandHandlerOptions,
  type Decision,
  handleCommand,
} from "./command-handler";
export { MAX_DECIDE_ATTEMPTS } from "./conflicts";
export type { ReactorHandler } from "./dispatcher";
export { deterministicUuid } from "./ids";
export type { InlineProjection, PendingEvent, ProjectionSql, Tx } from "./inline-projection";
export { KeyedMutex } from "./keyed-mutex";
export { snapshotHorizon, toRecordedEvent } from "./log-sql";
export { CommitNotifier } from "./notifier";
export { appendPatiently } from "./patient-append";
export { sqlProjection } from "./projection-sql";
export {
  type AppendHook,
  compareCheckpoints,
  EventStore,
  subscriptionLag,
} from "./store";
export { Subscription, type SubscriptionOptions } from "./subscriptions";
export * from "./types";
