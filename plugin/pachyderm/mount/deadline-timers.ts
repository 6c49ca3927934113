/**
 * @file
 * One-shot work at a wall-clock time, one per key, held in this process only: a later `arm` for
 * the same key replaces the earlier one, and `close` (the mount's Cleanup) cancels what waits and
 * waits for what runs, so nothing fires once the host has let the mount go. Callers keep their own
 * record of what is due: a process that dies loses its timers, and that record is the guarantee.
 */

/** setTimeout's longest delay; a later time is reached in steps of at most this. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export class DeadlineTimers {
  private readonly waiting = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly onError: (key: string, error: unknown) => void) {}

  /** Runs `work` once the clock reaches `atMs` (ms since the epoch), replacing `key`'s earlier work. */
  arm(key: string, atMs: number, work: () => Promise<void>): void {
    this.disarm(key);
    if (this.closed) return;
    const delay = Math.min(Math.max(0, atMs - Date.now()), MAX_TIMER_DELAY_MS);
    const timer = setTimeout(() => {
      this.waiting.delete(key);
      // A timer may fire early by the wall clock (a step of a long wait, a clock adjusted since).
      if (Date.now() < atMs) {
        this.arm(key, atMs, work);
        return;
      }
      const run = work()
        .catch((error: unknown) => this.onError(key, error))
        .finally(() => this.running.delete(run));
      this.running.add(run);
    }, delay);
    // Never what keeps the process alive.
    timer.unref();
    this.waiting.set(key, timer);
  }

  disarm(key: string): void {
    const timer = this.waiting.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.waiting.delete(key);
  }

  /** Whether work waits for `key`. */
  has(key: string): boolean {
    return this.waiting.has(key);
  }

  /** Cancels every waiting timer, refuses new ones, and resolves once running work has finished. */
  async close(): Promise<void> {
    this.closed = true;
    for (const key of [...this.waiting.keys()]) this.disarm(key);
    await Promise.allSettled([...this.running]);
  }
}
