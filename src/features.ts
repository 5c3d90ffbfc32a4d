import { accountsFeature } from "./accounts";
import { auditFeature } from "./audit";
import type { AppContext, Feature, InlineDeps, Subscriber } from "./context";
import type { InlineProjection } from "./event-store";
import { homeFeature } from "./home";
import { mailCatcherFeature } from "./mail-catcher";
import type { Sweep } from "./maintenance";
import { operationsFeature } from "./operations";
import { passwordResetFeature } from "./password-reset";
import { webhooksFeature } from "./webhooks";

/** The features, in the order the app mounts their routes (the OpenAPI document follows it). */
export const FEATURES: readonly Feature[] = [
  homeFeature,
  operationsFeature,
  accountsFeature,
  passwordResetFeature,
  auditFeature,
  webhooksFeature,
  mailCatcherFeature,
];

/**
 * The order a transaction applies the inline projections in, whichever feature brings them:
 * one may read what an earlier one wrote for the same events, and the round's statement
 * numbers their parameters in it.
 */
const INLINE_ORDER = [
  "users",
  "active-reset-codes",
  "sessions",
  "device-tokens",
  "sent-messages",
  "reset-code-keys",
];

/** The subscriptions start in this order, and the health checks and metrics list them in it. */
const SUBSCRIBER_ORDER = ["reset-mailer", "password-changed-mailer"];

/** `items` in `order`; one it does not name stops start-up, so a new one is given its place. */
function inOrder<T extends { name: string }>(items: T[], order: string[], what: string): T[] {
  const place = (item: T) => {
    const at = order.indexOf(item.name);
    if (at < 0) throw new Error(`${what} "${item.name}" has no place in src/features.ts`);
    return at;
  };
  return items.toSorted((a, b) => place(a) - place(b));
}

/** Every feature's inline projections, in the order they are registered. */
export const inlineProjections = (deps: InlineDeps): InlineProjection[] =>
  inOrder(
    FEATURES.flatMap((feature) => feature.inlineProjections?.(deps) ?? []),
    INLINE_ORDER,
    "inline projection",
  );

/** Every feature's sweeps (each deletes only its own read model's spent rows: any order does). */
export const sweeps = (): Sweep[] => FEATURES.flatMap((feature) => feature.sweeps ?? []);

/** Starts every feature's background work; the answer stops it all. */
export function startBackground(ctx: AppContext): { stop(): Promise<void> } {
  const running = FEATURES.flatMap((feature) =>
    feature.background ? [feature.background(ctx)] : [],
  );
  return { stop: async () => void (await Promise.all(running.map((work) => work.stop()))) };
}

/** Every feature's subscribers, in the order they are subscribed. */
export const subscribers = (): Subscriber[] =>
  inOrder(
    FEATURES.flatMap((feature) => feature.subscribers ?? []),
    SUBSCRIBER_ORDER,
    "subscriber",
  );
