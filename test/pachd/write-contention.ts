import * as grpc from '@grpc/grpc-js';

import { type ContentionSettings, stallProbability, writeServiceMs } from './contention-model';
import { PachdStatusError } from './pachd-status';
import { seededRandom } from './seeded-random';
import type { StandinStats } from './standin-stats';

/** One token write as the contention model handles it; each terminal method is called once. */
export interface ContendedWrite {
  /** True once the client cancelled the call or its deadline passed. */
  clientGone(): boolean;
  /** Calls `listener` when the client goes away; the returned function stops listening. */
  whenClientGone(listener: () => void): () => void;
  /** Runs the real handler (the write applies, or pachd's rules refuse it) and answers. */
  apply(): void;
  /** Answers with an error; nothing is applied. */
  reject(error: PachdStatusError): void;
  /** Ends the write without applying or answering: nobody is listening any more. */
  drop(): void;
}

interface Waiter {
  readonly write: ContendedWrite;
  readonly settings: ContentionSettings;
  stopListening: () => void;
}

/**
 * pachd's database lock as the contention model sees it (see contention-model.ts). A write that
 * does not stall waits for the lock; whoever gets it next is drawn at random among the waiters,
 * a lock convoy rather than a queue, and holds it for writeServiceMs before its handler runs.
 *
 * A write keeps the settings it arrived under: turning contention off lets the writes already
 * waiting or stalled finish as they would have, and only new writes go straight through.
 */
export class WriteContention {
  private settings: ContentionSettings | null = null;
  private random: () => number = seededRandom(0);
  private waiting: Waiter[] = [];
  private lockHeld = false;
  private holders = 0;
  private mostHolders = 0;
  /** When the last hold ends on an exact timeline (performance.now() milliseconds). */
  private lockFreeAtMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly stats: StandinStats) {}

  /** The most writes that ever held the lock at once; anything but 0 or 1 is a bug. */
  get maxLockHolders(): number {
    return this.mostHolders;
  }

  get enabled(): boolean {
    return this.settings !== null;
  }

  /** The settings in force, or null when contention is off. */
  current(): ContentionSettings | null {
    return this.settings === null ? null : { ...this.settings };
  }

  /** Turns contention on (restarting the random sequence from the seed) or off (null). */
  configure(settings: ContentionSettings | null): void {
    this.settings = settings === null ? null : { ...settings };
    if (settings !== null) this.random = seededRandom(settings.seed);
  }

  /** Takes over a write that already counts in the stats' writes in flight. */
  admit(write: ContendedWrite): void {
    const settings = this.settings;
    if (settings === null) {
      write.apply();
      return;
    }
    if (write.clientGone()) {
      this.stats.writeAbandoned();
      write.drop();
      return;
    }
    // Drawn for every write, stalling or not, so one write's odds do not shift later draws.
    const draw = this.random();
    if (draw < stallProbability(this.stats.writesInFlight, settings)) {
      this.stall(write, settings);
      return;
    }
    const waiter: Waiter = { write, settings, stopListening: () => undefined };
    waiter.stopListening = write.whenClientGone(() => {
      this.waiting = this.waiting.filter((other) => other !== waiter);
      this.stats.writeAbandoned();
      write.drop();
    });
    this.waiting.push(waiter);
    this.handOverLock();
  }

  /** Forgets every waiting and stalled write and cancels pending timers (the stand-in stops). */
  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiting) waiter.stopListening();
    this.waiting = [];
    this.lockHeld = false;
  }

  /**
   * A stalled write never reaches the database. It hangs until its client gives up or, for a
   * client without a deadline, until stallMaxMs, and then answers what pachd answered when its
   * own context ran out.
   */
  private stall(write: ContendedWrite, settings: ContentionSettings): void {
    this.stats.writeStalled();
    // Assigned once, below, but read by a listener that may run first.
    // eslint-disable-next-line prefer-const
    let timer: NodeJS.Timeout | undefined;
    const stopListening = write.whenClientGone(() => {
      if (timer !== undefined) this.cancelTimer(timer);
      write.drop();
    });
    timer = this.later(settings.stallMaxMs, () => {
      stopListening();
      write.reject(new PachdStatusError(grpc.status.UNKNOWN, 'context deadline exceeded'));
    });
  }

  private handOverLock(): void {
    if (this.lockHeld || this.waiting.length === 0) return;
    const index = Math.floor(this.random() * this.waiting.length);
    const [next] = this.waiting.splice(index, 1);
    if (next === undefined) return;
    // From here on the write applies even if its client leaves: the commit whose reply is lost.
    next.stopListening();
    this.lockHeld = true;
    this.holders += 1;
    this.mostHolders = Math.max(this.mostHolders, this.holders);
    // Timers fire on whole milliseconds, late; a hold handed straight over starts when the last
    // one should have ended, so fractional service times add up (2.5 ms holds give 400/s).
    const now = performance.now();
    const startsAtMs = Math.max(now, this.lockFreeAtMs);
    this.lockFreeAtMs = startsAtMs + writeServiceMs(this.stats.writesInFlight, next.settings);
    this.later(Math.max(0, this.lockFreeAtMs - now), () => {
      try {
        next.write.apply();
      } finally {
        this.holders -= 1;
        this.lockHeld = false;
        this.handOverLock();
      }
    });
  }

  private later(delayMs: number, action: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, delayMs);
    this.timers.add(timer);
    return timer;
  }

  private cancelTimer(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }
}
