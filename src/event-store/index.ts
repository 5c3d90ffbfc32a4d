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
export { KeyedMutex } from "./keyed-mutex";
export { CommitNotifier } from "./notifier";
export { appendPatiently } from "./patient-append";
export { type PendingEvent, type ProjectionSql, sqlProjection } from "./projection-sql";
export {
  type AppendResult,
  compareCheckpoints,
  EventStore,
  type InlineProjection,
  type Tx,
} from "./store";
export { Subscription, type SubscriptionOptions } from "./subscriptions";
export * from "./types";
