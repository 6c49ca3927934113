/**
 * @file
 * Group commit of WAL entries. Each storage exchange costs the plugin more CPU than most of the
 * work around it, so entries of one kind that arrive while a write of that kind is in flight are
 * stored together, once it completes, as one record listing them as members; a lone entry is
 * written at once, so nobody waits for a batch to fill. A member is handed out only once the
 * record holding it is stored: what the entry covers may start from then on, exactly as with an
 * entry of its own.
 *
 * Each member settles on its own: released (its work is done and held elsewhere), closed
 * (nothing was left to cover) or kept (for the rollback). Storage is touched again once every
 * member of a record has settled: one delete if none is kept, otherwise one rewrite holding only
 * the kept ones, so that no settled member is ever left for the rollback to act on. A released
 * member whose record waits for slower ones is dropped from it by a rewrite after
 * `RELEASED_MEMBER_WAIT_MS`: its work is held elsewhere (a token under a Vault lease) and a
 * process that died meanwhile would have the rollback undo it. Members of a record started
 * together and mostly settle within that time of each other, so the rewrite is rare.
 *
 * Use one instance per mount: a record goes through one member's request storage, so members of
 * different mounts must never share one.
 */

import type { Logger } from '../goplugin/logger';
import type { Storage } from './storage';
import { withStorageRetries } from './storage-retries';
import { deleteWal, putWal, updateWal, type WalEntry } from './wal';

/** How many members a record holds at most: a record stays one small storage entry. */
export const WAL_BATCH_MAX_MEMBERS = 64;

/**
 * How long a closing mount waits for its records' storage work. Storage calls carry no deadline,
 * and a host whose storage hangs must not hang the mount's Cleanup with it: what is not stored by
 * then stays in storage as it was, for the rollback.
 */
export const WAL_BATCH_FLUSH_WAIT_MS = 10_000;

/** How long a released member may wait in its record for the others before it is dropped alone. */
export const RELEASED_MEMBER_WAIT_MS = 200;

/** A record's stored data: its members' entries, as they were given. */
export interface WalBatchRecord<T = unknown> {
  members: T[];
}

export type WalMemberOutcome = 'released' | 'closed' | 'kept';

/** One entry's place in a stored record. */
export interface WalBatchMember {
  /** The id of the record holding the member. */
  readonly recordId: string;
  /**
   * Says how the member's work ended, once; `storage` is the settling request's. Resolves once
   * storage reflects the record's settlement if this member was the last to settle (at once
   * otherwise); never rejects: a failed store is logged and leaves the record to the rollback.
   */
  settle(outcome: WalMemberOutcome, storage: Storage): Promise<void>;
}

interface Waiting {
  storage: Storage;
  data: unknown;
  resolve: (member: WalBatchMember) => void;
  reject: (error: unknown) => void;
}

export class WalBatches {
  private writing = false;
  private running: Promise<void> = Promise.resolve();
  private readonly waiting: Waiting[] = [];
  private readonly records = new Set<BatchRecord>();

  constructor(
    private readonly kind: string,
    private readonly logger: Logger,
    private readonly options: { maxMembers?: number; releasedWaitMs?: number } = {},
  ) {}

  private get maxMembers(): number {
    return this.options.maxMembers ?? WAL_BATCH_MAX_MEMBERS;
  }

  /** Stores `data` as a member of a record (at once, or with those queued behind the write in flight). */
  join(storage: Storage, data: unknown): Promise<WalBatchMember> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ storage, data, resolve, reject });
      if (!this.writing) this.running = this.writeWaiting();
    });
  }

  /** Records not yet settled, for tests and logs. */
  get openRecords(): number {
    return this.records.size;
  }

  /**
   * For a mount that closes: waits for the writes in flight, then drops from every record the
   * members settled so far. A delivered member would otherwise stay stored until the last member
   * of its record settles, which may come after the storage connection is gone.
   */
  async flush(waitMs: number = WAL_BATCH_FLUSH_WAIT_MS): Promise<void> {
    const work = (async () => {
      while (this.writing) await this.running;
      await Promise.all([...this.records].map((record) => record.sync()));
    })();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'gave up'>((resolve) => {
      timer = setTimeout(() => resolve('gave up'), waitMs);
    });
    try {
      if ((await Promise.race([work, gaveUp])) === 'gave up') {
        this.logger.warn('a closing mount stopped waiting for its journal records; the rollback tick settles them', {
          kind: this.kind,
          open_records: this.records.size,
          waited_ms: waitMs,
        });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private async writeWaiting(): Promise<void> {
    this.writing = true;
    try {
      // The queue is read again right after each write, in the same turn as the flag is cleared,
      // so an entry that joins while a write is in flight is never left behind.
      for (
        let batch = this.waiting.splice(0, this.maxMembers);
        batch.length > 0;
        batch = this.waiting.splice(0, this.maxMembers)
      ) {
        await this.write(batch);
      }
    } finally {
      this.writing = false;
    }
  }

  private async write(batch: readonly Waiting[]): Promise<void> {
    const first = batch[0];
    if (first === undefined) return;
    let wal: WalEntry<WalBatchRecord>;
    try {
      wal = await putWal<WalBatchRecord>(first.storage, this.kind, { members: batch.map((waiting) => waiting.data) });
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    const record = new BatchRecord(wal, first.storage, {
      logger: this.logger,
      releasedWaitMs: this.options.releasedWaitMs ?? RELEASED_MEMBER_WAIT_MS,
      forget: () => this.records.delete(record),
    });
    this.records.add(record);
    batch.forEach((waiting, index) => waiting.resolve(record.member(index)));
  }
}

/** A stored record and how each of its members ended so far. */
class BatchRecord {
  /** The members as first stored: positions in `outcomes` and `stored` name these. */
  private readonly entries: readonly unknown[];
  private readonly outcomes: (WalMemberOutcome | undefined)[];
  /** Which members storage holds, as far as this process knows. */
  private stored: readonly boolean[];
  private stores: Promise<void> = Promise.resolve();
  /** Drops released members from a record still waiting for others. */
  private pruning: NodeJS.Timeout | undefined;

  constructor(
    private wal: WalEntry<WalBatchRecord>,
    private storage: Storage,
    private readonly owner: { logger: Logger; releasedWaitMs: number; forget: () => void },
  ) {
    this.entries = wal.data.members;
    this.outcomes = this.entries.map(() => undefined);
    this.stored = this.entries.map(() => true);
  }

  member(index: number): WalBatchMember {
    return {
      recordId: this.wal.id,
      settle: (outcome, storage) => this.settle(index, outcome, storage),
    };
  }

  /**
   * Brings storage to the members still to be covered, after any store already running: each
   * store writes the state when it runs, so the last one always leaves the latest.
   */
  sync(): Promise<void> {
    clearTimeout(this.pruning);
    this.pruning = undefined;
    const next = this.stores.then(() => this.store());
    this.stores = next;
    return next;
  }

  private settle(index: number, outcome: WalMemberOutcome, storage: Storage): Promise<void> {
    if (this.outcomes[index] !== undefined) return Promise.resolve();
    this.outcomes[index] = outcome;
    this.storage = storage;
    if (!this.outcomes.includes(undefined)) return this.sync();
    // A closed member's work left nothing to undo, and a kept one stays anyway: only a released
    // one must not wait long, lest a crash undo its work.
    if (outcome === 'released' && this.pruning === undefined) {
      this.pruning = setTimeout(() => {
        this.pruning = undefined;
        void this.sync();
      }, this.owner.releasedWaitMs);
      // The rollback covers a process that exits first; the timer must not hold it up.
      this.pruning.unref();
    }
    return Promise.resolve();
  }

  private async store(): Promise<void> {
    const covered = this.outcomes.map((outcome) => outcome === undefined || outcome === 'kept');
    const settled = !this.outcomes.includes(undefined);
    if (covered.some((cover, index) => cover !== this.stored[index])) {
      const members = this.entries.filter((_member, index) => covered[index]);
      const storage = this.storage;
      try {
        await withStorageRetries(async () => {
          if (members.length === 0) await deleteWal(storage, this.wal.id);
          else this.wal = await updateWal(storage, this.wal, { members });
        });
        this.stored = covered;
      } catch (error) {
        // Left in place, the record makes the rollback act on members already settled, revoking
        // tokens Vault may hold leases for: the safe way to fail.
        this.owner.logger.error(
          'could not store the settlement of a journal record; the rollback tick acts on every member it still holds',
          { kind: this.wal.kind, wal_id: this.wal.id, error: error instanceof Error ? error.message : String(error) },
        );
      }
    }
    if (settled) this.owner.forget();
  }
}
