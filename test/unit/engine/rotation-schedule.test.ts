import {
  decideRotation,
  expiryRotationTime,
  MAX_FAILURES,
  nextCronTime,
  nextScheduledRotation,
  parseCron,
  retryDelayMs,
  rotationFailed,
  rotationSucceeded,
  validateRotationSettings,
} from '../../../plugin/pachyderm/mount/rotation-schedule';
import type { RotationState } from '../../../plugin/pachyderm/mount/config';

const at = (iso: string) => new Date(iso);
const next = (expression: string, after: string) => nextCronTime(parseCron(expression), at(after))?.toISOString();

describe('cron expressions (UTC)', () => {
  it('steps: */15 runs on the quarter hours, strictly after the given instant', () => {
    expect(next('*/15 * * * *', '2026-03-01T10:07:30Z')).toBe('2026-03-01T10:15:00.000Z');
    expect(next('*/15 * * * *', '2026-03-01T10:15:00Z')).toBe('2026-03-01T10:30:00.000Z');
    expect(next('*/15 * * * *', '2026-03-01T23:50:00Z')).toBe('2026-03-02T00:00:00.000Z');
  });

  it('0 0 1 1 * is new year, once a year', () => {
    expect(next('0 0 1 1 *', '2026-01-01T00:00:00Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(next('0 0 1 1 *', '2025-12-31T23:59:59Z')).toBe('2026-01-01T00:00:00.000Z');
  });

  it('day of month and day of week both restricted: either matches', () => {
    // 2026-03-01 is a Sunday; the 13th is a Friday.
    expect(next('0 12 13 * 5', '2026-03-01T00:00:00Z')).toBe('2026-03-06T12:00:00.000Z');
    expect(next('0 12 13 * 5', '2026-03-06T12:00:00Z')).toBe('2026-03-13T12:00:00.000Z');
  });

  it('only one of them restricted: that one decides', () => {
    expect(next('0 0 * * MON', '2026-03-01T00:00:00Z')).toBe('2026-03-02T00:00:00.000Z');
    expect(next('0 0 15 * *', '2026-03-01T00:00:00Z')).toBe('2026-03-15T00:00:00.000Z');
    // A day of month starting with * counts as unrestricted (as in Vixie cron): both must match.
    expect(next('0 0 */10 * MON', '2026-03-01T00:00:00Z')).toBe('2026-05-11T00:00:00.000Z');
  });

  it('lists, ranges, ranges with steps, names and 7 for Sunday', () => {
    expect(next('5,35 1-3 * * *', '2026-03-01T01:06:00Z')).toBe('2026-03-01T01:35:00.000Z');
    expect(next('0 8-18/5 * * *', '2026-03-01T13:00:00Z')).toBe('2026-03-01T18:00:00.000Z');
    expect(next('0 0 1 jun-aug *', '2026-03-01T00:00:00Z')).toBe('2026-06-01T00:00:00.000Z');
    expect(next('0 0 * * 7', '2026-03-02T00:00:00Z')).toBe('2026-03-08T00:00:00.000Z');
    expect(next('0 0 * * sun', '2026-03-02T00:00:00Z')).toBe('2026-03-08T00:00:00.000Z');
    expect(next('30 2/6 * * *', '2026-03-01T03:00:00Z')).toBe('2026-03-01T08:30:00.000Z');
  });

  it('29 February waits for a leap year', () => {
    expect(next('0 0 29 2 *', '2026-03-01T00:00:00Z')).toBe('2028-02-29T00:00:00.000Z');
  });

  it.each([
    ['* * * *', /got 4 fields/],
    ['', /got 0 fields/],
    ['60 * * * *', /minute 60 is outside 0-59/],
    ['* 24 * * *', /hour 24 is outside 0-23/],
    ['* * 0 * *', /day of month 0 is outside 1-31/],
    ['* * * 13 *', /month 13 is outside 1-12/],
    ['* * * * 8', /day of week 8 is outside 0-7/],
    ['*/0 * * * *', /step "0" must be 1 or more/],
    ['5-1 * * * *', /runs backwards/],
    ['* * * foo *', /month "foo" is not a number or name/],
    ['0 0 30 2 *', /never matches/],
    ['@daily', /5-field/],
  ])('refuses %j with a 400 naming the field', (expression, why) => {
    expect(() => parseCron(expression)).toThrow(why);
    expect(() => parseCron(expression)).toThrow(/rotation_schedule/);
  });
});

describe('rotation settings', () => {
  it.each([
    [{ rotation_period_seconds: 3600, rotation_schedule: '0 * * * *' }, /mutually exclusive/],
    [{ rotation_period_seconds: 30 }, /at least 60s/],
    [{ rotation_window_seconds: 3600 }, /rotation_window applies to rotation_schedule only/],
    [{ rotation_schedule: '0 * * * *', rotation_window_seconds: 10 }, /rotation_window must be at least/],
    [{ rotation_schedule: '0 0 31 4 *' }, /rotation_schedule .* never matches/],
  ])('refuses %j', (settings, why) => {
    expect(() => validateRotationSettings(settings)).toThrow(why);
  });

  it('accepts a period of a minute and a schedule with a window', () => {
    expect(() => validateRotationSettings({ rotation_period_seconds: 60 })).not.toThrow();
    expect(() =>
      validateRotationSettings({ rotation_schedule: '0 3 * * *', rotation_window_seconds: 3600 }),
    ).not.toThrow();
  });

  it('computes the next scheduled time from a period or a schedule, none when disabled', () => {
    const now = at('2026-03-01T10:07:00Z');
    expect(nextScheduledRotation({ rotation_period_seconds: 60 }, now)?.toISOString()).toBe('2026-03-01T10:08:00.000Z');
    expect(nextScheduledRotation({ rotation_schedule: '0 3 * * *' }, now)?.toISOString()).toBe(
      '2026-03-02T03:00:00.000Z',
    );
    expect(
      nextScheduledRotation({ rotation_period_seconds: 60, disable_automated_rotation: true }, now),
    ).toBeUndefined();
    expect(nextScheduledRotation({}, now)).toBeUndefined();
  });
});

describe('expiring admin tokens', () => {
  it('are rotated at two thirds of their life', () => {
    expect(expiryRotationTime(at('2026-03-01T00:00:00Z'), at('2026-03-31T00:00:00Z')).toISOString()).toBe(
      '2026-03-21T00:00:00.000Z',
    );
  });

  it('and at least ten minutes before they expire', () => {
    expect(expiryRotationTime(at('2026-03-01T00:00:00Z'), at('2026-03-01T00:15:00Z')).toISOString()).toBe(
      '2026-03-01T00:05:00.000Z',
    );
    expect(expiryRotationTime(at('2026-03-01T00:00:00Z'), at('2026-03-01T00:05:00Z')).toISOString()).toBe(
      '2026-02-28T23:55:00.000Z',
    );
  });
});

describe('deciding and recording rotations', () => {
  const now = at('2026-03-01T10:00:00Z');
  const period = { rotation_period_seconds: 60 };

  it('sets the first scheduled time without rotating', () => {
    expect(decideRotation(period, {}, undefined, now)).toEqual({
      due: false,
      state: { next_rotation: '2026-03-01T10:01:00.000Z' },
    });
  });

  it('rotates when the scheduled time has come, and not before', () => {
    expect(decideRotation(period, { next_rotation: '2026-03-01T10:00:06Z' }, undefined, now)).toEqual({ due: false });
    expect(decideRotation(period, { next_rotation: '2026-03-01T10:00:00Z' }, undefined, now)).toEqual({
      due: true,
      reason: 'scheduled',
    });
  });

  it('counts a tick a few seconds early as on time (the tick is the only clock), but not one a tick early', () => {
    // Vault's tick came 10 ms before the time: without the tolerance it waits a whole minute more.
    expect(decideRotation(period, { next_rotation: '2026-03-01T10:00:00.010Z' }, undefined, now)).toEqual({
      due: true,
      reason: 'scheduled',
    });
    expect(decideRotation(period, { next_rotation: '2026-03-01T10:00:30Z' }, undefined, now)).toEqual({ due: false });
    expect(decideRotation(period, { retry_at: '2026-03-01T10:00:00.010Z', failures: 1 }, undefined, now)).toEqual({
      due: true,
      reason: 'retry',
    });
  });

  it('with a period of a minute and ticks a little early each time, rotates at every tick', () => {
    let state: RotationState = { next_rotation: '2026-03-01T10:01:00.000Z' };
    let rotations = 0;
    // Ticks drift 3 ms earlier each minute, starting 2 ms before the first scheduled time.
    for (let tick = 0; tick < 10; tick += 1) {
      const clock = new Date(Date.parse('2026-03-01T10:01:00.000Z') - 2 + tick * (60_000 - 3));
      const decision = decideRotation(period, state, undefined, clock);
      if (decision.due) {
        rotations += 1;
        state = rotationSucceeded(period, state, new Date(clock.getTime() + 400));
      }
    }
    expect(rotations).toBe(10);
    expect(state.next_rotation).toBe('2026-03-01T10:11:00.000Z');
  });

  it('counts the next time from the scheduled one, never in the past; an early rotation starts the period anew', () => {
    const scheduled = { next_rotation: '2026-03-01T10:00:00.000Z' };
    // Done late within its tick: the next is a period after the scheduled time, not after the tick.
    expect(rotationSucceeded(period, scheduled, at('2026-03-01T10:00:00.800Z')).next_rotation).toBe(
      '2026-03-01T10:01:00.000Z',
    );
    // A tick a moment early serves the time, and the next is still a period after it.
    expect(rotationSucceeded(period, scheduled, at('2026-03-01T09:59:58Z')).next_rotation).toBe(
      '2026-03-01T10:01:00.000Z',
    );
    // A minute late (the tick after a crash): the time a few seconds ahead is served by this
    // rotation too, not due again at the next tick.
    expect(rotationSucceeded(period, scheduled, at('2026-03-01T10:00:58.800Z')).next_rotation).toBe(
      '2026-03-01T10:02:00.000Z',
    );
    // Ticks were missed (Vault down): the times that passed are skipped.
    expect(rotationSucceeded(period, scheduled, at('2026-03-01T10:02:30Z')).next_rotation).toBe(
      '2026-03-01T10:03:00.000Z',
    );
    // An operator's rotate-root half a period early: the next is a full period after it.
    expect(rotationSucceeded(period, { next_rotation: '2026-03-01T10:00:30Z' }, now).next_rotation).toBe(
      '2026-03-01T10:01:00.000Z',
    );
    expect(
      rotationSucceeded({ rotation_period_seconds: 3600 }, { next_rotation: '2026-03-01T11:00:00Z' }, now),
    ).toMatchObject({
      next_rotation: '2026-03-01T11:00:00.000Z',
    });
  });

  it('a cron time served by a tick a moment early is not served again; its window is unchanged', () => {
    const settings = { rotation_schedule: '0 * * * *', rotation_window_seconds: 600 };
    const state = { next_rotation: '2026-03-01T11:00:00.000Z' };
    const early = at('2026-03-01T10:59:58Z');
    expect(decideRotation(settings, state, undefined, early)).toEqual({ due: true, reason: 'scheduled' });
    expect(rotationSucceeded(settings, state, early).next_rotation).toBe('2026-03-01T12:00:00.000Z');
    expect(decideRotation(settings, state, undefined, at('2026-03-01T11:10:00Z'))).toEqual({
      due: true,
      reason: 'scheduled',
    });
    expect(decideRotation(settings, state, undefined, at('2026-03-01T11:10:01Z'))).toMatchObject({
      due: false,
      missedWindow: true,
      state: { next_rotation: '2026-03-01T12:00:00.000Z' },
    });
    // Served late within its window: the next is the following time.
    expect(rotationSucceeded(settings, state, at('2026-03-01T11:09:00Z')).next_rotation).toBe(
      '2026-03-01T12:00:00.000Z',
    );
  });

  it('skips a scheduled time whose window has passed, to the next one', () => {
    const settings = { rotation_schedule: '0 * * * *', rotation_window_seconds: 600 };
    expect(decideRotation(settings, { next_rotation: '2026-03-01T09:00:00Z' }, undefined, now)).toEqual({
      due: false,
      missedWindow: true,
      state: { next_rotation: '2026-03-01T11:00:00.000Z' },
    });
    expect(decideRotation(settings, { next_rotation: '2026-03-01T09:55:00Z' }, undefined, now)).toEqual({
      due: true,
      reason: 'scheduled',
    });
  });

  it('rotates an expiring token without a schedule, and nothing when disabled', () => {
    const expiry = { issuedAt: at('2026-03-01T07:00:00Z'), expiresAt: at('2026-03-01T13:00:00Z') };
    // Six hours of life: rotated at 11:00, two thirds of it.
    expect(decideRotation({}, {}, expiry, now)).toEqual({ due: false });
    expect(decideRotation({}, {}, expiry, at('2026-03-01T10:59:54Z'))).toEqual({ due: false });
    expect(decideRotation({}, {}, expiry, at('2026-03-01T11:00:00Z'))).toEqual({ due: true, reason: 'expiry' });
    expect(decideRotation({ disable_automated_rotation: true }, {}, expiry, at('2026-03-01T12:00:00Z'))).toEqual({
      due: false,
    });
  });

  it('backs off from a minute, doubling to an hour', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(retryDelayMs)).toEqual(
      [1, 2, 4, 8, 16, 32, 60, 60].map((minutes) => minutes * 60_000),
    );
  });

  it('retries failures with backoff, gives up after repeated ones until the next scheduled time', () => {
    let state: RotationState = { next_rotation: '2026-03-01T10:00:00Z' };
    let clock = now;
    state = rotationFailed(period, state, 'scheduled', 'pachd down', false, clock);
    expect(state).toMatchObject({ failures: 1, retry_at: '2026-03-01T10:01:00.000Z', last_error: 'pachd down' });
    expect(decideRotation(period, state, undefined, clock)).toEqual({ due: false });
    for (let failure = 2; failure <= MAX_FAILURES; failure += 1) {
      clock = new Date(Date.parse(state.retry_at as string));
      expect(decideRotation(period, state, undefined, clock)).toEqual({ due: true, reason: 'retry' });
      state = rotationFailed(period, state, 'retry', 'pachd down', false, clock);
    }
    expect(state.failures).toBe(MAX_FAILURES);
    expect(state.retry_at).toBeUndefined();
    expect(state.given_up_until).toBe(new Date(clock.getTime() + 60_000).toISOString());
    expect(decideRotation(period, state, undefined, clock)).toEqual({ due: false });
    expect(decideRotation(period, state, undefined, new Date(clock.getTime() + 60_000))).toEqual({
      due: true,
      reason: 'scheduled',
    });
  });

  it('gives up at once on an error retrying cannot cure; without a schedule, until an operator acts', () => {
    const state = rotationFailed({}, {}, 'expiry', 'cannot rotate', true, now);
    expect(state).toMatchObject({ given_up_until: null, failures: 1 });
    const expiry = { issuedAt: at('2026-03-01T07:00:00Z'), expiresAt: at('2026-03-01T13:00:00Z') };
    expect(decideRotation({}, state, expiry, now)).toEqual({ due: false });
  });

  it('a success clears failures and schedules the next time, keeping the last error for the record', () => {
    const failed = rotationFailed(period, {}, 'scheduled', 'pachd down', true, now);
    expect(rotationSucceeded(period, failed, now)).toEqual({
      last_rotation: now.toISOString(),
      next_rotation: '2026-03-01T10:01:00.000Z',
      last_error: 'pachd down',
      last_error_at: now.toISOString(),
      failures: 0,
    });
  });
});
