/**
 * Bounds the token writes (issue, revoke, rotate) one process has in flight at one pachd. pachd
 * serializes token writes in its database and collapses when many arrive at once (measured on a
 * real pachd 2.11.6: ~400 GetRobotToken/s one at a time, a few per second with 16 in flight),
 * while a short queue here costs each caller only its turn. Waiters are served in arrival order,
 * each within its own deadline.
 */
export class PachdCallGate {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];

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
   * `GateTimeout` when no turn came by `waitUntil` (ms since the epoch).
   */
  async run<T>(limit: number, waitUntil: number, call: () => Promise<T>): Promise<T> {
    if (this.waiting.length > 0 || !this.hasRoom(limit)) await this.turn(limit, waitUntil);
    else this.inFlight += 1;
    try {
      return await call();
    } finally {
      this.inFlight -= 1;
      this.admit();
    }
  }

  private hasRoom(limit: number): boolean {
    return limit <= 0 || this.inFlight < limit;
  }

  private turn(limit: number, waitUntil: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { limit, resolve, timer: undefined };
      waiter.timer = setTimeout(() => {
        const index = this.waiting.indexOf(waiter);
        if (index === -1) return;
        this.waiting.splice(index, 1);
        reject(new GateTimeout(this.address, this.inFlight, this.waiting.length + 1, limit));
      }, Math.max(0, waitUntil - Date.now()));
      this.waiting.push(waiter);
    });
  }

  private admit(): void {
    for (let head = this.waiting[0]; head !== undefined && this.hasRoom(head.limit); head = this.waiting[0]) {
      this.waiting.shift();
      clearTimeout(head.timer);
      this.inFlight += 1;
      head.resolve();
    }
  }
}

interface Waiter {
  limit: number;
  resolve: () => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** No turn came before the caller's deadline; nothing was sent to pachd. */
export class GateTimeout extends Error {
  constructor(
    readonly address: string,
    readonly inFlight: number,
    readonly queued: number,
    readonly limit: number,
  ) {
    super(
      `pachd at ${address} is busy: ${inFlight} token writes in flight (at most ${limit} at once) and ` +
        `${queued} waiting; this request's deadline passed before its turn came`,
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
