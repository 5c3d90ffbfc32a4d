export { AppendBatcher } from "./append-batcher";
export { type CommitSignal, decodeNotification, EventBus, NOTIFY_CHANNEL } from "./bus";
export {
  type Command,
  type CommandHandled,
  type CommandHandlerOptions,
  type Decision,
  handleCommand,
} from "./command-handler";
export { MAX_DECIDE_ATTEMPTS } from "./conflicts";
export { deterministicUuid } from "./ids";
export { KeyedMutex } from "./keyed-mutex";
export { CommitNotifier } from "./notifier";
export { appendPatiently } from "./patient-append";
export {
  type AppendResult,
  compareCheckpoints,
  EventStore,
  type InlineProjection,
  type Tx,
} from "./store";
export {
  type ProjectionHandler,
  type ReactorHandler,
  Subscription,
  type SubscriptionOptions,
} from "./subscriptions";
export * from "./types";
