import { formatDuration, nanosToSeconds, parseDuration, secondsToNanos } from '../../plugin/sdk/duration';

describe('durations', () => {
  it('reads seconds and Go-style durations', () => {
    expect(parseDuration(90)).toBe(90_000_000_000n);
    expect(parseDuration('90')).toBe(90_000_000_000n);
    expect(parseDuration('1h30m')).toBe(5400n * 1_000_000_000n);
    expect(parseDuration('1.5h')).toBe(5400n * 1_000_000_000n);
    expect(parseDuration('30d')).toBe(30n * 86400n * 1_000_000_000n);
    expect(parseDuration('500ms')).toBe(500_000_000n);
    expect(parseDuration('0')).toBe(0n);
    expect(parseDuration('-5m')).toBe(-300n * 1_000_000_000n);
  });

  it('rejects what is not a duration', () => {
    for (const bad of ['', 'abc', '1x', 'h', '1h30', '1 h', null, undefined, {}, [], NaN]) {
      expect(parseDuration(bad)).toBeUndefined();
    }
  });

  it('keeps 200 days exact in nanoseconds (past 2^53)', () => {
    const nanos = parseDuration('4800h');
    expect(nanos).toBe(17_280_000_000_000_000n);
    expect(nanos! > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(nanosToSeconds(nanos!)).toBe(17_280_000);
    expect(secondsToNanos(17_280_000)).toBe(nanos);
  });

  it('spells durations the way Go does', () => {
    expect(formatDuration(5400n * 1_000_000_000n)).toBe('1h30m0s');
    expect(formatDuration(45n * 1_000_000_000n)).toBe('45s');
    expect(formatDuration(1_500_000_000n)).toBe('1.5s');
    expect(formatDuration(0n)).toBe('0s');
  });

  it("reads long digit strings exactly and refuses what does not fit Go's time.Duration", () => {
    expect(parseDuration('9223372036')).toBe(9_223_372_036_000_000_000n);
    expect(parseDuration('9223372037')).toBeUndefined();
    expect(parseDuration('2562047h')).toBe(2_562_047n * 3600n * 1_000_000_000n);
    expect(parseDuration('2562048h')).toBeUndefined();
    expect(parseDuration('0000000000000000000000000000000000000000001')).toBe(1_000_000_000n);
    expect(parseDuration('1.0000000000000000000000000000000000005')).toBe(1_000_000_000n);
    expect(parseDuration(`${'9'.repeat(309)}`)).toBeUndefined();
    expect(parseDuration(`${'9'.repeat(309)}.5`)).toBeUndefined();
    expect(parseDuration(`1${'0'.repeat(1 << 20)}s`)).toBeUndefined();
    expect(parseDuration(1e308)).toBeUndefined();
    expect(parseDuration(-1e308)).toBeUndefined();
  });
});
