/**
 * The shape of pachd 2.11.6's token-write collapse under concurrency (docs/pachd-auth-api.md §13: on 2
 * cores with PostgreSQL alongside, GetRobotToken ran ~400/s one at a time, ~200/s with 4 in
 * flight, and a few per second with 16 in flight, 16% of them never answering before a 30 s
 * deadline). Pure functions, so the calibration can be checked without a server.
 */
export interface ContentionSettings {
  /** Time one write holds the database lock when it is the only write in flight. */
  baseMs: number;
  /** The number of extra writes in flight that doubles the time a write holds the lock. */
  doublingEvery: number;
  /** Writes in flight at or below this never stall. */
  stallFrom: number;
  /** Stall probability added by each write in flight above stallFrom. */
  stallStep: number;
  /** Stall probability never exceeds this. */
  stallMax: number;
  /**
   * How long a stalled write hangs before answering, when its client has not given up first.
   * Also caps the time a write holds the lock, so a burst far past the calibrated range slows
   * writes to a crawl instead of wedging the lock for hours.
   */
  stallMaxMs: number;
  /** Seeds stall decisions and the choice of the next lock holder. */
  seed: number;
}

/**
 * s(1) = 2.5 ms matches ~400 calls/s one at a time; s(4) = 5 ms, ~200/s with 4 in flight. A write
 * arriving with 16 in flight stalls with probability 0.16, the DeadlineExceeded share observed.
 */
export const DEFAULT_CONTENTION_SETTINGS: Readonly<ContentionSettings> = Object.freeze({
  baseMs: 2.5,
  doublingEvery: 3,
  stallFrom: 8,
  stallStep: 0.02,
  stallMax: 0.5,
  stallMaxMs: 30_000,
  seed: 1,
});

/** How long a write holds the lock when it gets it with `inFlight` writes in flight (itself included). */
export function writeServiceMs(inFlight: number, settings: ContentionSettings): number {
  const uncapped = settings.baseMs * 2 ** ((inFlight - 1) / settings.doublingEvery);
  return Math.min(uncapped, settings.stallMaxMs);
}

/** The chance that a write arriving with `inFlight` writes in flight (itself included) stalls. */
export function stallProbability(inFlight: number, settings: ContentionSettings): number {
  const probability = settings.stallStep * (inFlight - settings.stallFrom);
  return Math.min(Math.max(probability, 0), settings.stallMax);
}

/**
 * Settings from a partial request, defaults filling the gaps. Throws on values the model cannot
 * use, naming the field, so the control API can answer 400.
 */
export function contentionSettings(overrides: Partial<ContentionSettings>): ContentionSettings {
  const settings: ContentionSettings = { ...DEFAULT_CONTENTION_SETTINGS, ...definedOnly(overrides) };
  const checks: Array<[keyof ContentionSettings, boolean, string]> = [
    ['baseMs', settings.baseMs >= 0, 'a non-negative number of milliseconds'],
    ['doublingEvery', settings.doublingEvery > 0, 'a positive number'],
    ['stallFrom', true, 'a number'],
    ['stallStep', settings.stallStep >= 0, 'a non-negative number'],
    ['stallMax', settings.stallMax >= 0 && settings.stallMax <= 1, 'a probability (0 to 1)'],
    ['stallMaxMs', settings.stallMaxMs > 0, 'a positive number of milliseconds'],
    ['seed', Number.isSafeInteger(settings.seed), 'an integer'],
  ];
  for (const [key, valid, expected] of checks) {
    const value = settings[key];
    if (!Number.isFinite(value) || !valid) throw new Error(`${key} must be ${expected}, not ${value}`);
  }
  return settings;
}

function definedOnly(overrides: Partial<ContentionSettings>): Partial<ContentionSettings> {
  const defined: Partial<ContentionSettings> = {};
  for (const [key, value] of Object.entries(overrides) as Array<[keyof ContentionSettings, number | undefined]>) {
    if (value !== undefined) defined[key] = value;
  }
  return defined;
}
