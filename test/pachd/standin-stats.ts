export interface WriteCounters {
  /** Token writes that arrived. */
  total: number;
  /** Token writes whose handler ran and succeeded: the write took effect. */
  applied: number;
  /** Token writes the contention model stalled (counted when the stall begins). */
  stalled: number;
  /** Token writes dropped unapplied because their client left while they waited. */
  abandoned: number;
  /** Token writes arrived and not finished yet: delayed, waiting, stalled or holding the lock. */
  inFlight: number;
  /** The most token writes in flight at once since the start or the last reset. */
  maxInFlight: number;
}

export interface StatsSnapshot {
  writes: WriteCounters;
  /**
   * `byCaller`: calls per SHA-256 of the token they carried (pachd's own hash), so a test can
   * prove a token never reached a pachd it must not reach.
   */
  calls: { total: number; byCaller: Record<string, number> };
}

/**
 * Counters of what reached the pachd port, kept whether or not contention is on, so a test can
 * prove how many token writes a client ever had in flight at pachd at once.
 */
export class StandinStats {
  private callsTotal = 0;
  private readonly callsByCaller = new Map<string, number>();
  private writesTotal = 0;
  private applied = 0;
  private stalled = 0;
  private abandoned = 0;
  private inFlight = 0;
  private maxInFlight = 0;

  get writesInFlight(): number {
    return this.inFlight;
  }

  /** `callerHash`: pachd's hash of the token the call carried, if it carried one. */
  callArrived(callerHash?: string): void {
    this.callsTotal += 1;
    if (callerHash !== undefined) this.callsByCaller.set(callerHash, (this.callsByCaller.get(callerHash) ?? 0) + 1);
  }

  writeArrived(): void {
    this.writesTotal += 1;
    this.inFlight += 1;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
  }

  writeApplied(): void {
    this.applied += 1;
  }

  writeStalled(): void {
    this.stalled += 1;
  }

  writeAbandoned(): void {
    this.abandoned += 1;
  }

  /** Exactly once per arrived write, however it ended. */
  writeEnded(): void {
    this.inFlight -= 1;
  }

  snapshot(): StatsSnapshot {
    return {
      writes: {
        total: this.writesTotal,
        applied: this.applied,
        stalled: this.stalled,
        abandoned: this.abandoned,
        inFlight: this.inFlight,
        maxInFlight: this.maxInFlight,
      },
      calls: { total: this.callsTotal, byCaller: Object.fromEntries(this.callsByCaller) },
    };
  }

  /**
   * Zeroes the counters. Writes still in flight stay counted in inFlight (they are real), and
   * maxInFlight restarts from them rather than from zero.
   */
  reset(): void {
    this.callsTotal = 0;
    this.callsByCaller.clear();
    this.writesTotal = 0;
    this.applied = 0;
    this.stalled = 0;
    this.abandoned = 0;
    this.maxInFlight = this.inFlight;
  }
}
