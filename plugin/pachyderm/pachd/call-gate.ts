/**
 * Bounds the token writes (issue, revoke, rotate) one process has in flight at one pachd. pachd
 * serializes token writes in its database and collapses when many arrive at once (measured on a
 * real pachd 2.11.6: ~400 GetRobotToken/s one at a time, a few per second with 16 in flight),
 * while a short queue here costs each caller only its turn. Waiters are served in arrival order,
 * each within its own deadline: a caller is turned away, with nothing sent, as soon as its turn
 * could no longer end in time, judged by how long this pachd's writes have been taking.
 */
export class PachdCallGate {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];
  /** Recent duration of one write at this pachd (a moving average), 0 until one finished. */
  private typicalMs = 0;

  constructor(readonly address: string) {}

  /** Calls now in flight through this gate. */
  get active(): number {
    return this.inFlight;
  }

  /** Callers waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `call` once fewer than `limit` calls are in flight (0: no bound), or rejects with
   * `GateTimeout` when its turn would not leave it time to finish by `deadline` (ms since the
   * epoch).
   */
  async run<T>(limit: number, deadline: number, call: () => Promise<T>): Promise<T> {
    // With room now, the call goes at once: it carries its own deadline.
    if (this.waiting.length > 0 || !this.hasRoom(limit)) await this.turn(limit, deadline);
    else this.inFlight += 1;
    const started = Date.now();
    try {
      const result = await call();
      // Only answered calls teach how long a write takes: one that ran into its deadline
      // would make every later waiter give up.
      const took = Date.now() - started;
      this.typicalMs = this.typicalMs === 0 ? took : 0.8 * this.typicalMs + 0.2 * took;
      return result;
    } finally {
      this.inFlight -= 1;
      this.admit();
    }
  }

  private hasRoom(limit: number): boolean {
    return limit <= 0 || this.inFlight < limit;
  }

  private inTime(deadline: number): boolean {
    return Date.now() + this.typicalMs < deadline;
  }

  private turn(limit: number, deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { limit, deadline, resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => this.expire(waiter), Math.max(0, deadline - this.typicalMs - Date.now()));
      this.waiting.push(waiter);
    });
  }

  private expire(waiter: Waiter): void {
    const index = this.waiting.indexOf(waiter);
    if (index === -1) return;
    this.waiting.splice(index, 1);
    waiter.reject(this.timeout(waiter.limit, 1));
    this.admit();
  }

  private admit(): void {
    for (let head = this.waiting[0]; head !== undefined && this.hasRoom(head.limit); head = this.waiting[0]) {
      this.waiting.shift();
      clearTimeout(head.timer);
      if (!this.inTime(head.deadline)) {
        head.reject(this.timeout(head.limit, 1));
        continue;
      }
      this.inFlight += 1;
      head.resolve();
    }
  }

  private timeout(limit: number, self = 0): GateTimeout {
    return new GateTimeout(this.address, this.inFlight, this.waiting.length + self, limit);
  }
}

interface Waiter {
  limit: number;
  deadline: number;
  resolve: () => void;
  reject: (error: GateTimeout) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The caller's turn would not have left it time to finish; nothing was sent to pachd. */
export class GateTimeout extends Error {
  constructor(
    readonly address: string,
    readonly inFlight: number,
    readonly queued: number,
    readonly limit: number,
  ) {
    super(
      `pachd at ${address} is busy: ${inFlight} token writes in flight (at most ${limit} at once) and ` +
        `${queued} waiting; this request's turn would not come in time to finish before its deadline`,
    );
    this.name = 'GateTimeout';
  }
}

/**
 * One gate per pachd address for the whole process, so every mount of a multiplexed plugin
 * counts against the same bound.
 */
const gates = new Map<string, PachdCallGate>();

export function callGateFor(address: string): PachdCallGate {
  let gate = gates.get(address);
  if (gate === undefined) {
    gate = new PachdCallGate(address);
    gates.set(address, gate);
  }
  return gate;
}
