import { availableParallelism } from "node:os";
import { HttpError } from "../http/errors";

/**
 * Password hashing (argon2id, 64 MiB) with bounded concurrency: a burst of logins queues here
 * instead of taking every core and all the memory, so other routes keep answering. Past the
 * queue's bound the caller gets 429 at once rather than a long wait.
 */
export class HashingGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly slots: number,
    readonly maxWaiting: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) {
      if (this.waiting.length >= this.maxWaiting) {
        throw new HttpError(429, "too many requests", { "retry-after": "1" });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line, or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

// One core stays free for everything else; at least one hash runs at a time.
const gate = new HashingGate(Math.max(1, availableParallelism() - 1), 32);

export const hashPassword = (password: string) =>
  gate.run(() => Bun.password.hash(password, { algorithm: "argon2id" }));

export const verifyPassword = (password: string, hash: string) =>
  gate.run(() => Bun.password.verify(password, hash));
