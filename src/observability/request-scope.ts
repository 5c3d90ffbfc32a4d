import { AsyncLocalStorage } from "node:async_hooks";

/** What every line logged while serving one request carries. */
export interface RequestScope {
  requestId: string;
  startedAt: number;
}

const storage = new AsyncLocalStorage<RequestScope>();

/**
 * Makes `scope` current for the rest of this request's work. Elysia's hooks cannot wrap the
 * handler, so the scope is entered (not run) at the request's first hook.
 */
export function enterRequestScope(scope: RequestScope): void {
  storage.enterWith(scope);
}

export const currentRequestScope = (): RequestScope | undefined => storage.getStore();
