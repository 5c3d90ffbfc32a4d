import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import type { Db } from "../db";
import type { ErrorLogger } from "../log";
import type { Checkpoint } from "./types";

/** Held or not; a term that has just started says where the stored checkpoint stands. */
export type LeaseTerm = { held: false } | { held: true; startedFrom?: Checkpoint };

/**
 * Which one process runs a subscription: a row naming its owner until an expiry the owner keeps
 * renewing. Another process may take it once it has expired, so a dead owner is replaced after
 * at most the lease's length.
 */
export class Lease {
  readonly owner = randomUUID();
  private holding = false;
  private renewedAt = 0;
  private termStartedAt: number | undefined;

  constructor(
    private readonly db: Db,
    private readonly name: string,
    private readonly ms: number,
    private readonly log: ErrorLogger,
  ) {}

  get held(): boolean {
    return this.holding;
  }

  /** Renewed so recently that this process may act as the owner without asking again. */
  get fresh(): boolean {
    return this.holding && Date.now() - this.renewedAt < this.ms / 2;
  }

  /**
   * Whether an event recorded at this time was committed inside the current term, by the
   * database's clock: a transaction started after this term began, when the previous owner's
   * lease had already lapsed, so no other process could have handled it while fresh.
   */
  withinTerm(recordedAt: Date): boolean {
    return this.termStartedAt !== undefined && recordedAt.getTime() > this.termStartedAt;
  }

  /** How long a process without the lease waits before asking for it again. */
  get retryMs(): number {
    return Math.max(50, this.ms / 3);
  }

  /** Renews the lease (at most every third of its length), or takes it when free or expired. */
  async hold(): Promise<LeaseTerm> {
    const now = Date.now();
    if (this.holding && now - this.renewedAt < this.ms / 3) return { held: true };
    const { rows } = await sql<{
      last_transaction_id: string;
      last_position: number;
      now: Date | string;
    }>`
      insert into subscriptions (name, owner, lease_expires_at)
      values (${this.name}, ${this.owner}, now() + ${`${this.ms} milliseconds`}::interval)
      on conflict (name) do update
        set owner = excluded.owner, lease_expires_at = excluded.lease_expires_at
        where subscriptions.owner is null or subscriptions.owner = excluded.owner
           or subscriptions.lease_expires_at < now()
      returning last_transaction_id::text, last_position, now()`.execute(this.db);
    const row = rows[0];
    if (row === undefined) {
      if (this.holding) this.log.error(`${this.name}: lease lost`);
      this.lose();
      return { held: false };
    }
    const startedFrom = this.holding
      ? undefined
      : { transactionId: row.last_transaction_id, position: Number(row.last_position) };
    if (startedFrom) this.termStartedAt = new Date(row.now).getTime();
    this.holding = true;
    this.renewedAt = now;
    return { held: true, startedFrom };
  }

  /** Another process took the lease, as a write fenced by ownership found. */
  lose(): void {
    this.holding = false;
    this.termStartedAt = undefined;
  }

  async release(): Promise<void> {
    await sql`update subscriptions set owner = null, lease_expires_at = null
              where name = ${this.name} and owner = ${this.owner}`
      .execute(this.db)
      .catch(() => {});
    this.lose();
  }
}
