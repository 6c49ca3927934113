import type { StandinClock } from './standin-clock';

/**
 * What put a token in the table: the RPC that minted or restored it, `bootstrap` for a root
 * token the stand-in made itself (at start, or when the control API re-activates wiped auth),
 * `control` for POST /tokens.
 */
export type TokenOrigin =
  'GetAuthToken' | 'GetRobotToken' | 'RestoreAuthToken' | 'RotateRootToken' | 'Activate' | 'bootstrap' | 'control';

export interface HistoryToken {
  hash: string;
  subject: string;
  /** On the stand-in clock, like every expiry it reports. */
  createdAtMs: number;
  origin: TokenOrigin;
}

/**
 * Every token ever inserted, by hash, append-only: revocation, expiry and wipes leave it alone.
 * A leak scan needs to recognize a token that no longer exists, so the live table will not do;
 * the plaintext is never kept, only what a scan can check a candidate against.
 */
export class TokenHistory {
  private readonly entries: HistoryToken[] = [];

  constructor(private readonly clock: StandinClock) {}

  record(hash: string, subject: string, origin: TokenOrigin): void {
    // Whole milliseconds: Go clients decode it as an int64.
    this.entries.push({ hash, subject, createdAtMs: Math.floor(this.clock.nowMs()), origin });
  }

  all(): HistoryToken[] {
    return this.entries.map((entry) => ({ ...entry }));
  }
}
