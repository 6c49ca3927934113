/**
 * @file
 * Durations. Vault carries lease durations as int64 nanoseconds, which pass 2^53 (the end of
 * exact JavaScript numbers) at about 104 days, so anything that reaches the wire is a bigint
 * of nanoseconds. Operators write them as seconds (`3600`) or Go-style (`1h30m`, `720h`, `30d`).
 */

export type Nanoseconds = bigint;

export const NANOS_PER_SECOND = 1_000_000_000n;

export function secondsToNanos(seconds: number): Nanoseconds {
  if (Number.isInteger(seconds)) return BigInt(seconds) * NANOS_PER_SECOND;
  // Past 2^53 seconds every double is an integer, so this rounding never meets Infinity.
  return BigInt(Math.round(seconds * 1e9));
}

/** Whole seconds, rounded down, as a number (exact for any duration a lease can have). */
export function nanosToSeconds(nanos: Nanoseconds): number {
  return Number(nanos / NANOS_PER_SECOND);
}

/** Whole seconds, rounded up. */
export function ceilSeconds(nanos: Nanoseconds): number {
  return Number((nanos + NANOS_PER_SECOND - 1n) / NANOS_PER_SECOND);
}

const UNIT_NANOS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: NANOS_PER_SECOND,
  m: 60n * NANOS_PER_SECOND,
  h: 3600n * NANOS_PER_SECOND,
  d: 86_400n * NANOS_PER_SECOND,
};

const COMPONENT = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;
const PLAIN_SECONDS = /^[-+]?(\d+)(?:\.(\d+))?$/;

/**
 * The longest duration Go's time.Duration holds (about 292 years): Vault parses TTLs into it, so
 * anything longer is not a duration there either.
 */
export const MAX_DURATION: Nanoseconds = 2n ** 63n - 1n;
const MAX_DURATION_DIGITS = MAX_DURATION.toString().length;

/**
 * Parses `90`, `"90"`, `"1h30m"`, `"1.5h"`, `"30d"` into nanoseconds; `undefined` if the text
 * is not a duration or does not fit Go's time.Duration. Bare numbers are seconds, as in Vault's
 * own TTL fields. Digits are read exactly (as bigints), so no input becomes Infinity or loses
 * precision on the way.
 */
export function parseDuration(input: unknown): Nanoseconds | undefined {
  const nanos = parseUnbounded(input);
  if (nanos === undefined || nanos > MAX_DURATION || nanos < -MAX_DURATION) return undefined;
  return nanos;
}

function parseUnbounded(input: unknown): Nanoseconds | undefined {
  if (typeof input === 'number') {
    return Number.isFinite(input) ? secondsToNanos(input) : undefined;
  }
  if (typeof input === 'bigint') return input * NANOS_PER_SECOND;
  if (typeof input !== 'string') return undefined;
  let text = input.trim();
  if (text === '') return undefined;
  const plain = PLAIN_SECONDS.exec(text);
  if (plain !== null) {
    const seconds = decimalTimes(plain[1] ?? '0', plain[2] ?? '', NANOS_PER_SECOND);
    return text.startsWith('-') ? -seconds : seconds;
  }

  let sign = 1n;
  if (text.startsWith('-') || text.startsWith('+')) {
    if (text.startsWith('-')) sign = -1n;
    text = text.slice(1);
  }
  if (text === '0') return 0n;
  let total = 0n;
  COMPONENT.lastIndex = 0;
  while (COMPONENT.lastIndex < text.length) {
    const start = COMPONENT.lastIndex;
    const match = COMPONENT.exec(text);
    if (match === null || match.index !== start) return undefined;
    const [, amount = '', unit = ''] = match;
    const unitNanos = UNIT_NANOS[unit];
    if (unitNanos === undefined) return undefined;
    const [whole = '', fraction = ''] = amount.split('.');
    total += decimalTimes(whole, fraction, unitNanos);
    // Past the limit already: stop before the digits of a hostile input cost anything more.
    if (total > MAX_DURATION) return undefined;
  }
  return sign * total;
}

/**
 * `whole.fraction` × `unit`, truncated to whole nanoseconds, in exact integer arithmetic. Digits
 * that cannot matter are dropped first: turning a megabyte of digits into a bigint takes seconds.
 */
function decimalTimes(whole: string, fraction: string, unit: bigint): bigint {
  const significant = whole.replace(/^0+/, '');
  if (significant.length > MAX_DURATION_DIGITS) return MAX_DURATION + 1n;
  const integral = BigInt(significant === '' ? '0' : significant) * unit;
  const digits = fraction.slice(0, MAX_DURATION_DIGITS);
  if (digits === '') return integral;
  return integral + (BigInt(digits) * unit) / 10n ** BigInt(digits.length);
}

/** Go's spelling (`1h30m0s`), for messages an operator compares with what they typed. */
export function formatDuration(nanos: Nanoseconds): string {
  if (nanos === 0n) return '0s';
  const negative = nanos < 0n;
  let rest = negative ? -nanos : nanos;
  const hours = rest / UNIT_NANOS.h!;
  rest %= UNIT_NANOS.h!;
  const minutes = rest / UNIT_NANOS.m!;
  rest %= UNIT_NANOS.m!;
  const seconds = rest / NANOS_PER_SECOND;
  const fraction = rest % NANOS_PER_SECOND;
  let text = '';
  if (hours > 0n) text += `${hours}h`;
  if (hours > 0n || minutes > 0n) text += `${minutes}m`;
  text += fraction === 0n ? `${seconds}s` : `${seconds}.${fraction.toString().padStart(9, '0').replace(/0+$/, '')}s`;
  return negative ? `-${text}` : text;
}
