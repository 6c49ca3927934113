/**
 * @file
 * When a credential the engine holds is rotated without an operator asking: on a schedule (a
 * period, or a standard 5-field cron expression read in UTC, as Vault's automated root rotation
 * takes them), before an expiring admin token runs out, and again after a failure with
 * exponential backoff. The admin token (admin/rotation-scheduler.ts) and every static robot
 * (static-robots/static-scheduler.ts) follow the same rules. Pure: every function takes the
 * instant it reasons about.
 */

import { badRequest } from '../../sdk/errors';
import type { RotationSettings, RotationState } from './config';

export const MIN_ROTATION_PERIOD_SECONDS = 60;
export const MIN_ROTATION_WINDOW_SECONDS = 60;
/** An expiring admin token is rotated at two thirds of its life, and at least this long before it expires. */
export const EXPIRY_FLOOR_MS = 10 * 60 * 1000;
export const FIRST_RETRY_MS = 60 * 1000;
export const MAX_RETRY_MS = 3600 * 1000;
/** Failed attempts in a row after which the engine waits for the next scheduled time or an operator. */
export const MAX_FAILURES = 5;
/**
 * How early a rollback tick may come and still count a rotation as due. The tick (every 60 s) is
 * the only clock the engine gets, and its phase drifts by a few milliseconds: with a one-minute
 * period, a tick arriving just before the time would leave the rotation to the tick after, a
 * minute late, every other time. A few seconds cover any drift without letting a rotation run
 * a tick early.
 */
export const TICK_TOLERANCE_MS = 5_000;

/** Whether the instant `at` (ms since the epoch) has come, as a tick at `now` sees it. */
function reached(at: number, now: Date): boolean {
  return now.getTime() + TICK_TOLERANCE_MS >= at;
}

interface CronField {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const FIELDS: readonly CronField[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** A parsed cron expression: the values each field allows. */
export interface CronSchedule {
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  daysOfMonth: ReadonlySet<number>;
  months: ReadonlySet<number>;
  /** 0 is Sunday (7 is read as 0). */
  daysOfWeek: ReadonlySet<number>;
  /** Whether day of month and day of week are restricted (not `*`): when both are, either may match. */
  dayOfMonthRestricted: boolean;
  dayOfWeekRestricted: boolean;
}

/** Parses a standard 5-field cron expression; a 400 naming `fieldName` when it is not one. */
export function parseCron(expression: string, fieldName = 'rotation_schedule'): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  const fail = (why: string) => badRequest(`${fieldName} "${expression}" is not a 5-field cron expression: ${why}`);
  if (parts.length !== 5 || parts[0] === '') {
    throw fail(`expected minute hour day-of-month month day-of-week, got ${parts[0] === '' ? 0 : parts.length} fields`);
  }
  const sets = parts.map((part, index) => parseField(part, FIELDS[index] as CronField, fail));
  const [minutes, hours, daysOfMonth, months, daysOfWeekRaw] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  const daysOfWeek = new Set([...daysOfWeekRaw].map((day) => day % 7));
  const schedule: CronSchedule = {
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    dayOfMonthRestricted: !(parts[2] as string).startsWith('*'),
    dayOfWeekRestricted: !(parts[4] as string).startsWith('*'),
  };
  if (nextCronTime(schedule, new Date(Date.UTC(2000, 0, 1))) === undefined) throw fail('it never matches a date');
  return schedule;
}

function parseField(text: string, field: CronField, fail: (why: string) => Error): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const match = /^(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:\/([0-9]+))?$/.exec(item);
    if (match === null) throw fail(`${field.name} "${item}" is not *, a value, a range or a step`);
    const range = match[1] as string;
    const stepText = match[2];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isSafeInteger(step) || step < 1) throw fail(`${field.name} step "${stepText ?? ''}" must be 1 or more`);
    let low: number;
    let high: number;
    if (range === '*') {
      low = field.min;
      high = field.name === 'day of week' ? 6 : field.max;
    } else {
      const [from, to] = range.split('-') as [string, string | undefined];
      low = fieldValue(from, field, fail);
      // `5/15` means 5 to the end, every 15.
      high = to === undefined ? (stepText === undefined ? low : field.max) : fieldValue(to, field, fail);
      if (high < low) throw fail(`${field.name} range "${range}" runs backwards`);
    }
    for (let value = low; value <= high; value += step) values.add(value);
  }
  return values;
}

function fieldValue(text: string, field: CronField, fail: (why: string) => Error): number {
  let value: number;
  if (/^[0-9]+$/.test(text)) {
    value = Number(text);
  } else {
    const index = field.names?.indexOf(text.toUpperCase()) ?? -1;
    if (index < 0) throw fail(`${field.name} "${text}" is not a number${field.names === undefined ? '' : ' or name'}`);
    value = index + (field.name === 'month' ? 1 : 0);
  }
  if (value < field.min || value > field.max) {
    throw fail(`${field.name} ${value} is outside ${field.min}-${field.max}`);
  }
  return value;
}

/** How far ahead a time is searched for (a 29 February may be eight years away). */
const SEARCH_DAYS = 366 * 9;

/** The first minute strictly after `after` that `schedule` matches, in UTC; undefined when none within nine years. */
export function nextCronTime(schedule: CronSchedule, after: Date): Date | undefined {
  const start = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
  const day = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()));
  const minutesSorted = [...schedule.minutes].sort((a, b) => a - b);
  const hoursSorted = [...schedule.hours].sort((a, b) => a - b);
  for (let i = 0; i < SEARCH_DAYS; i += 1, day.setUTCDate(day.getUTCDate() + 1)) {
    if (!schedule.months.has(day.getUTCMonth() + 1) || !dayMatches(schedule, day)) continue;
    for (const hour of hoursSorted) {
      for (const minute of minutesSorted) {
        const candidate = new Date(day.getTime() + (hour * 60 + minute) * 60_000);
        if (candidate.getTime() >= start.getTime()) return candidate;
      }
    }
  }
  return undefined;
}

function dayMatches(schedule: CronSchedule, day: Date): boolean {
  const byMonth = schedule.daysOfMonth.has(day.getUTCDate());
  const byWeek = schedule.daysOfWeek.has(day.getUTCDay());
  if (schedule.dayOfMonthRestricted && schedule.dayOfWeekRestricted) return byMonth || byWeek;
  return byMonth && byWeek;
}

/** Checks the settings a config write would store; a 400 saying what is wrong. */
export function validateRotationSettings(settings: RotationSettings): void {
  const period = settings.rotation_period_seconds ?? 0;
  const schedule = settings.rotation_schedule ?? '';
  if (period > 0 && schedule !== '') {
    throw badRequest('rotation_period and rotation_schedule are mutually exclusive: set one of them');
  }
  if (period > 0 && period < MIN_ROTATION_PERIOD_SECONDS) {
    throw badRequest(`rotation_period must be at least ${MIN_ROTATION_PERIOD_SECONDS}s`);
  }
  if (schedule !== '') parseCron(schedule);
  const window = settings.rotation_window_seconds ?? 0;
  if (window > 0 && schedule === '') {
    throw badRequest('rotation_window applies to rotation_schedule only: set rotation_schedule too');
  }
  if (window > 0 && window < MIN_ROTATION_WINDOW_SECONDS) {
    throw badRequest(`rotation_window must be at least ${MIN_ROTATION_WINDOW_SECONDS}s`);
  }
}

/** The next scheduled rotation after `after`; undefined when no schedule is set or automated rotation is off. */
export function nextScheduledRotation(settings: RotationSettings, after: Date): Date | undefined {
  if (settings.disable_automated_rotation === true) return undefined;
  const period = settings.rotation_period_seconds ?? 0;
  if (period > 0) return new Date(after.getTime() + period * 1000);
  const schedule = settings.rotation_schedule ?? '';
  if (schedule !== '') return nextCronTime(parseCron(schedule), after);
  return undefined;
}

/**
 * The scheduled time that follows a rotation at `now`. A rotation that served its scheduled time
 * (`scheduled`, reached at `now`) counts the next one from that time, not from when the tick
 * came, so a late tick does not push every later rotation back. Times this tick would count as
 * reached are skipped (those that passed while Vault was down, and one a few seconds ahead, which
 * this rotation serves too): the next is never in the past, nor due again at the same tick. A
 * rotation before its time (an operator's) starts the period anew.
 */
export function followingRotation(
  settings: RotationSettings,
  scheduled: string | undefined,
  now: Date,
): Date | undefined {
  const anchor = scheduled === undefined ? Number.NaN : Date.parse(scheduled);
  if (!Number.isFinite(anchor) || !reached(anchor, now)) return nextScheduledRotation(settings, now);
  if (settings.disable_automated_rotation === true) return undefined;
  const periodMs = (settings.rotation_period_seconds ?? 0) * 1000;
  if (periodMs > 0) {
    const passed = Math.max(0, Math.floor((now.getTime() + TICK_TOLERANCE_MS - anchor) / periodMs));
    return new Date(anchor + (passed + 1) * periodMs);
  }
  const schedule = settings.rotation_schedule ?? '';
  if (schedule !== '') {
    return nextCronTime(parseCron(schedule), new Date(Math.max(anchor, now.getTime() + TICK_TOLERANCE_MS)));
  }
  return undefined;
}

/**
 * When an admin token living from `issuedAt` to `expiresAt` is rotated: at two thirds of its life,
 * and at least the floor before it ends.
 */
export function expiryRotationTime(issuedAt: Date, expiresAt: Date): Date {
  const life = expiresAt.getTime() - issuedAt.getTime();
  return new Date(Math.min(issuedAt.getTime() + (life * 2) / 3, expiresAt.getTime() - EXPIRY_FLOOR_MS));
}

/** How long after the `failures`-th failure in a row the next attempt waits: 1 minute, doubling, at most 1 hour. */
export function retryDelayMs(failures: number): number {
  return Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1), MAX_RETRY_MS);
}

export type RotationReason = 'scheduled' | 'expiry' | 'retry';

export type RotationDecision =
  | { due: true; reason: RotationReason }
  /** `state`: what to store although nothing is rotated (a schedule's first time, a missed window). */
  | { due: false; state?: RotationState; missedWindow?: boolean };

/** Whether a rotation is due at `now`. */
export function decideRotation(
  settings: RotationSettings,
  state: RotationState,
  expiry: { issuedAt: Date; expiresAt: Date } | undefined,
  now: Date,
): RotationDecision {
  if (settings.disable_automated_rotation === true) return { due: false };
  if (state.given_up_until !== undefined) {
    if (state.given_up_until === null || !reached(Date.parse(state.given_up_until), now)) return { due: false };
    return { due: true, reason: 'scheduled' };
  }
  if (state.retry_at !== undefined) {
    return reached(Date.parse(state.retry_at), now) ? { due: true, reason: 'retry' } : { due: false };
  }
  if (expiry !== undefined && reached(expiryRotationTime(expiry.issuedAt, expiry.expiresAt).getTime(), now)) {
    return { due: true, reason: 'expiry' };
  }
  const scheduled = (settings.rotation_period_seconds ?? 0) > 0 || (settings.rotation_schedule ?? '') !== '';
  if (!scheduled) return { due: false };
  if (state.next_rotation === undefined) {
    const next = nextScheduledRotation(settings, now);
    return { due: false, state: { ...state, ...(next === undefined ? {} : { next_rotation: next.toISOString() }) } };
  }
  const next = Date.parse(state.next_rotation);
  if (!reached(next, now)) return { due: false };
  const window = settings.rotation_window_seconds ?? 0;
  if ((settings.rotation_schedule ?? '') !== '' && window > 0 && now.getTime() > next + window * 1000) {
    const following = nextScheduledRotation(settings, now);
    return {
      due: false,
      missedWindow: true,
      state: { ...state, ...(following === undefined ? {} : { next_rotation: following.toISOString() }) },
    };
  }
  return { due: true, reason: 'scheduled' };
}

/** The state after a successful rotation at `now` (automated or an operator's). */
export function rotationSucceeded(settings: RotationSettings, state: RotationState, now: Date): RotationState {
  const next = followingRotation(settings, state.next_rotation, now);
  return {
    last_rotation: now.toISOString(),
    ...(next === undefined ? {} : { next_rotation: next.toISOString() }),
    ...(state.last_error === undefined ? {} : { last_error: state.last_error }),
    ...(state.last_error_at === undefined ? {} : { last_error_at: state.last_error_at }),
    failures: 0,
  };
}

/**
 * The state after an automated rotation failed at `now`: retried with backoff, or, after
 * `MAX_FAILURES` in a row or an error retrying cannot cure (`permanent`), not again before the
 * next scheduled time (or an operator's rotate-root when there is none).
 */
export function rotationFailed(
  settings: RotationSettings,
  state: RotationState,
  reason: RotationReason,
  error: string,
  permanent: boolean,
  now: Date,
): RotationState {
  const failures = (reason === 'retry' ? (state.failures ?? 0) : 0) + 1;
  const base: RotationState = {
    ...(state.last_rotation === undefined ? {} : { last_rotation: state.last_rotation }),
    last_error: error,
    last_error_at: now.toISOString(),
    failures,
  };
  if (permanent || failures >= MAX_FAILURES) {
    const next = followingRotation(settings, state.next_rotation, now);
    return {
      ...base,
      ...(next === undefined ? {} : { next_rotation: next.toISOString() }),
      given_up_until: next?.toISOString() ?? null,
    };
  }
  return {
    ...base,
    ...(state.next_rotation === undefined ? {} : { next_rotation: state.next_rotation }),
    retry_at: new Date(now.getTime() + retryDelayMs(failures)).toISOString(),
  };
}
