/**
 * The stand-in's notion of "now". Every expiry computation reads this clock, so tests can jump
 * forward (a 30-day token expiring, the 24-hour cleanup in 2.x) without waiting. It only moves
 * forward: pachd's clocks (etcd leases, Postgres NOW()) never run backwards either.
 */
export class StandinClock {
  private offsetMs = 0;

  nowMs(): number {
    return Date.now() + this.offsetMs;
  }

  /** Total time added by advance(); reported so a test can tell virtual from wall time. */
  get advancedMs(): number {
    return this.offsetMs;
  }

  advance(milliseconds: number): void {
    if (!Number.isFinite(milliseconds) || milliseconds < 0) {
      throw new Error(`the clock only moves forward; cannot advance by ${milliseconds} ms`);
    }
    this.offsetMs += milliseconds;
  }
}
