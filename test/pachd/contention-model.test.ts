// The contention model's pure parts: service time, stall probability, settings, the generator.
import {
  type ContentionSettings,
  DEFAULT_CONTENTION_SETTINGS,
  contentionSettings,
  stallProbability,
  writeServiceMs,
} from './contention-model';
import { seededRandom } from './seeded-random';

const defaults: ContentionSettings = { ...DEFAULT_CONTENTION_SETTINGS };

describe('writeServiceMs', () => {
  it('is 2.5 ms alone and doubles every 3 writes in flight', () => {
    expect([1, 4, 7, 16].map((n) => writeServiceMs(n, defaults))).toEqual([2.5, 5, 10, 80]);
    expect(writeServiceMs(2, defaults)).toBeCloseTo(2.5 * 2 ** (1 / 3), 10);
  });

  it('never exceeds stallMaxMs', () => {
    expect(writeServiceMs(1000, defaults)).toBe(defaults.stallMaxMs);
    expect(writeServiceMs(5, { ...defaults, baseMs: 10, doublingEvery: 1, stallMaxMs: 50 })).toBe(50);
  });
});

describe('stallProbability', () => {
  it('is zero up to stallFrom, grows by stallStep, and stops at stallMax', () => {
    expect([1, 4, 8].map((n) => stallProbability(n, defaults))).toEqual([0, 0, 0]);
    expect(stallProbability(9, defaults)).toBeCloseTo(0.02, 10);
    expect(stallProbability(16, defaults)).toBeCloseTo(0.16, 10);
    expect(stallProbability(33, defaults)).toBe(0.5);
    expect(stallProbability(1000, defaults)).toBe(0.5);
  });

  it('follows its settings', () => {
    expect(stallProbability(3, { ...defaults, stallFrom: 0, stallStep: 1, stallMax: 1 })).toBe(1);
    expect(stallProbability(100, { ...defaults, stallMax: 0 })).toBe(0);
  });
});

describe('contentionSettings', () => {
  it('fills what is left out with the defaults', () => {
    expect(contentionSettings({})).toEqual(defaults);
    expect(contentionSettings({ seed: 42, stallMaxMs: 500 })).toEqual({ ...defaults, seed: 42, stallMaxMs: 500 });
  });

  it('refuses values the model cannot use, naming the field', () => {
    expect(() => contentionSettings({ stallMax: 1.5 })).toThrow('stallMax must be a probability (0 to 1), not 1.5');
    expect(() => contentionSettings({ doublingEvery: 0 })).toThrow('doublingEvery must be a positive number');
    expect(() => contentionSettings({ baseMs: -1 })).toThrow('baseMs must be');
    expect(() => contentionSettings({ stallMaxMs: 0 })).toThrow('stallMaxMs must be');
    expect(() => contentionSettings({ seed: 1.5 })).toThrow('seed must be an integer');
    expect(() => contentionSettings({ stallStep: Number.NaN })).toThrow('stallStep must be');
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed and stays within [0, 1)', () => {
    const first = seededRandom(7);
    const second = seededRandom(7);
    const a = Array.from({ length: 1000 }, () => first());
    const b = Array.from({ length: 1000 }, () => second());
    expect(a).toEqual(b);
    expect(a.every((value) => value >= 0 && value < 1)).toBe(true);
    const other = seededRandom(8);
    expect(Array.from({ length: 1000 }, () => other())).not.toEqual(a);
    // Not stuck in a corner of the interval.
    const mean = a.reduce((sum, value) => sum + value, 0) / a.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});
