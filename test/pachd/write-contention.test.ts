// The lock convoy and stalls, on jest's fake clock: every outcome depends only on the seed and
// the order of arrivals, never on how fast this machine is.
import * as grpc from '@grpc/grpc-js';

import { type ContentionSettings, DEFAULT_CONTENTION_SETTINGS, contentionSettings } from './contention-model';
import type { PachdStatusError } from './pachd-status';
import { StandinStats } from './standin-stats';
import { type ContendedWrite, WriteContention } from './write-contention';

type Outcome = 'applied' | 'rejected' | 'dropped';

/** A write whose client the test controls; it settles the stats the way the gRPC server does. */
class FakeWrite implements ContendedWrite {
  outcome: Outcome | undefined;
  settledAtMs: number | undefined;
  error: PachdStatusError | undefined;
  private gone = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly id: number,
    private readonly stats: StandinStats,
    private readonly onSettled: (write: FakeWrite) => void,
  ) {}

  clientGone(): boolean {
    return this.gone;
  }

  whenClientGone(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The client cancels or its deadline passes. */
  leave(): void {
    if (this.gone) return;
    this.gone = true;
    for (const listener of [...this.listeners]) listener();
  }

  apply(): void {
    this.stats.writeApplied();
    this.settle('applied');
  }

  reject(error: PachdStatusError): void {
    this.error = error;
    this.settle('rejected');
  }

  drop(): void {
    this.settle('dropped');
  }

  private settle(outcome: Outcome): void {
    if (this.outcome !== undefined) throw new Error(`write ${this.id} settled twice (${this.outcome}, ${outcome})`);
    this.outcome = outcome;
    this.settledAtMs = Date.now();
    this.stats.writeEnded();
    this.onSettled(this);
  }
}

interface Rig {
  stats: StandinStats;
  contention: WriteContention;
  writes: FakeWrite[];
  /** Ids in the order their writes applied. */
  appliedOrder: number[];
  arrive(): FakeWrite;
}

function rig(settings: Partial<ContentionSettings>, onSettled: (write: FakeWrite) => void = () => undefined): Rig {
  const stats = new StandinStats();
  const contention = new WriteContention(stats);
  contention.configure(contentionSettings(settings));
  const writes: FakeWrite[] = [];
  const appliedOrder: number[] = [];
  const arrive = (): FakeWrite => {
    const write = new FakeWrite(writes.length, stats, (settled) => {
      if (settled.outcome === 'applied') appliedOrder.push(settled.id);
      onSettled(settled);
    });
    writes.push(write);
    stats.writeArrived();
    contention.admit(write);
    return write;
  };
  return { stats, contention, writes, appliedOrder, arrive };
}

const NO_STALLS: Partial<ContentionSettings> = { stallFrom: 1e9 };
/** baseMs that doublingEvery cannot visibly change: every write holds the lock for baseMs. */
const FLAT = { doublingEvery: 1e12 };

beforeEach(() => {
  jest.useFakeTimers({ now: 0 });
});

afterEach(() => {
  jest.useRealTimers();
});

describe('the database lock', () => {
  it('lets one write at a time hold it: applies come baseMs apart, never together', () => {
    const { arrive, writes, stats, contention } = rig({ ...NO_STALLS, ...FLAT, baseMs: 10 });
    for (let i = 0; i < 8; i += 1) arrive();
    expect(stats.snapshot().writes).toMatchObject({ inFlight: 8, maxInFlight: 8, applied: 0 });
    jest.advanceTimersByTime(9);
    expect(writes.filter((write) => write.outcome !== undefined)).toHaveLength(0);
    jest.advanceTimersByTime(1000);
    const times = writes.map((write) => write.settledAtMs ?? Number.NaN).sort((a, b) => a - b);
    expect(times.map((time) => Math.round(time))).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
    expect(contention.maxLockHolders).toBe(1);
    expect(stats.snapshot().writes).toMatchObject({ total: 8, applied: 8, inFlight: 0, stalled: 0 });
  });

  it('takes s(n) for n in flight when the lock is acquired', () => {
    const { arrive, writes } = rig({ ...NO_STALLS, baseMs: 1, doublingEvery: 1 });
    for (let i = 0; i < 4; i += 1) arrive();
    jest.advanceTimersByTime(100);
    // The first got the lock alone (1 ms); then 3, 2 and 1 were in flight: 4, 2 and 1 ms.
    const times = writes.map((write) => write.settledAtMs ?? Number.NaN).sort((a, b) => a - b);
    expect(times).toEqual([1, 5, 7, 8]);
  });

  it('hands the lock to a random waiter, the same one for the same seed', () => {
    const orderFor = (seed: number): number[] => {
      const { arrive, appliedOrder } = rig({ ...NO_STALLS, ...FLAT, baseMs: 1, seed });
      for (let i = 0; i < 10; i += 1) arrive();
      jest.advanceTimersByTime(100);
      return appliedOrder;
    };
    const first = orderFor(3);
    expect([...first].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(first).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(orderFor(3)).toEqual(first);
    expect(orderFor(4)).not.toEqual(first);
  });

  it('drops a waiter whose client left, unapplied, and counts it abandoned', () => {
    const { arrive, stats } = rig({ ...NO_STALLS, ...FLAT, baseMs: 100 });
    const holder = arrive();
    const waiter = arrive();
    jest.advanceTimersByTime(50);
    waiter.leave();
    expect(waiter.outcome).toBe('dropped');
    expect(stats.snapshot().writes).toMatchObject({ abandoned: 1, inFlight: 1 });
    jest.advanceTimersByTime(1000);
    expect([holder.outcome, waiter.outcome]).toEqual(['applied', 'dropped']);
    expect(stats.snapshot().writes).toMatchObject({ total: 2, applied: 1, abandoned: 1, inFlight: 0 });
  });

  it('applies a write that got the lock even if its client leaves meanwhile', () => {
    const { arrive, stats } = rig({ ...NO_STALLS, ...FLAT, baseMs: 100 });
    const holder = arrive();
    jest.advanceTimersByTime(50);
    holder.leave();
    jest.advanceTimersByTime(100);
    expect(holder.outcome).toBe('applied');
    expect(stats.snapshot().writes).toMatchObject({ applied: 1, abandoned: 0 });
  });

  it('abandons a write whose client left before it reached the model', () => {
    const { contention, stats } = rig(NO_STALLS);
    const write = new FakeWrite(0, stats, () => undefined);
    stats.writeArrived();
    write.leave();
    contention.admit(write);
    expect(write.outcome).toBe('dropped');
    expect(stats.snapshot().writes).toMatchObject({ abandoned: 1, applied: 0, inFlight: 0 });
  });
});

describe('stalls', () => {
  it('never stall with 4 or fewer in flight', () => {
    const { arrive, stats } = rig({ seed: 11 });
    for (let round = 0; round < 50; round += 1) {
      for (let i = 0; i < 4; i += 1) arrive();
      jest.advanceTimersByTime(1000);
    }
    expect(stats.snapshot().writes).toMatchObject({ total: 200, applied: 200, stalled: 0, maxInFlight: 4 });
  });

  it('stall some of 16 writes arriving together; a stalled write never applies', () => {
    // A burst of 16 sees 9 to 16 in flight as it arrives: 0.72 stalls expected on the defaults,
    // so whether any stall depends on the seed. With seed 6 some do, on every run.
    const { arrive, writes, stats } = rig({ seed: 6 });
    for (let i = 0; i < 16; i += 1) arrive();
    const stalled = stats.snapshot().writes.stalled;
    expect(stalled).toBeGreaterThan(0);
    jest.advanceTimersByTime(DEFAULT_CONTENTION_SETTINGS.stallMaxMs - 1);
    const unsettled = writes.filter((write) => write.outcome === undefined);
    // Only the stalled ones are left, still in flight, and none of them arrived with 8 or fewer.
    expect(unsettled).toHaveLength(stalled);
    expect(stats.snapshot().writes.inFlight).toBe(stalled);
    expect(unsettled.every((write) => write.id >= 8)).toBe(true);
    jest.advanceTimersByTime(1);
    expect(unsettled.map((write) => write.outcome)).toEqual(unsettled.map(() => 'rejected'));
    expect(unsettled.map((write) => [write.error?.code, write.error?.message])).toEqual(
      unsettled.map(() => [grpc.status.UNKNOWN, 'context deadline exceeded']),
    );
    expect(stats.snapshot().writes).toMatchObject({ total: 16, applied: 16 - stalled, stalled, inFlight: 0 });
  });

  it('end without an answer when the client gives up first', () => {
    const { arrive, stats } = rig({ stallFrom: 0, stallStep: 1, stallMax: 1, stallMaxMs: 60_000 });
    const write = arrive();
    expect(stats.snapshot().writes).toMatchObject({ stalled: 1, inFlight: 1 });
    jest.advanceTimersByTime(30_000);
    write.leave();
    expect(write.outcome).toBe('dropped');
    expect(stats.snapshot().writes).toMatchObject({ stalled: 1, inFlight: 0, applied: 0 });
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('calibration against pachd 2.11.6 (closed loop, simulated time)', () => {
  /** `clients` callers each sending the next write as soon as the last one ends, deadline 30 s. */
  function closedLoop(clients: number, seconds: number): { perSecond: number; stallShare: number } {
    const deadlineMs = 30_000;
    let running = true;
    const send = (): void => {
      if (!running) return;
      const write = loop.arrive();
      const deadline = setTimeout(() => write.leave(), deadlineMs);
      pending.set(write, deadline);
    };
    const pending = new Map<FakeWrite, NodeJS.Timeout>();
    const loop = rig({ seed: 5 }, (settled) => {
      clearTimeout(pending.get(settled));
      pending.delete(settled);
      send();
    });
    for (let i = 0; i < clients; i += 1) send();
    jest.advanceTimersByTime(seconds * 1000);
    running = false;
    const { applied, stalled, total } = loop.stats.snapshot().writes;
    loop.contention.stop();
    return { perSecond: applied / seconds, stallShare: stalled / total };
  }

  it('runs ~400 writes/s one at a time and ~200/s with 4 in flight, without stalls', () => {
    expect(closedLoop(1, 10)).toEqual({ perSecond: 400, stallShare: 0 });
    expect(closedLoop(4, 10)).toEqual({ perSecond: 200, stallShare: 0 });
  });

  it('collapses to a few writes/s with 16 in flight, about 16% of them stalling', () => {
    const { perSecond, stallShare } = closedLoop(16, 600);
    expect(perSecond).toBeGreaterThan(1);
    expect(perSecond).toBeLessThan(10);
    expect(stallShare).toBeGreaterThan(0.1);
    expect(stallShare).toBeLessThan(0.22);
  });
});

describe('switching contention', () => {
  it('lets writes already waiting finish under their settings and sends new ones straight through', () => {
    const { arrive, contention, stats } = rig({ ...NO_STALLS, ...FLAT, baseMs: 100 });
    const first = arrive();
    const second = arrive();
    contention.configure(null);
    expect(contention.current()).toBeNull();
    const third = arrive();
    expect(third.outcome).toBe('applied');
    jest.advanceTimersByTime(1000);
    expect([first.outcome, second.outcome]).toEqual(['applied', 'applied']);
    expect(stats.snapshot().writes).toMatchObject({ applied: 3, inFlight: 0 });
  });

  it('stop() forgets waiting writes and leaves no timers behind', () => {
    const { arrive, contention } = rig({ stallFrom: 2, stallStep: 1, stallMax: 1, ...FLAT, baseMs: 100 });
    arrive();
    arrive();
    arrive();
    expect(jest.getTimerCount()).toBeGreaterThan(0);
    contention.stop();
    expect(jest.getTimerCount()).toBe(0);
  });
});
