/**
 * @file
 * How long a static robot's token lives at pachd: until its next scheduled rotation, plus the
 * grace the replaced token keeps, plus a margin for a late tick and a few retries. A stopped Vault
 * thus leaves a token that dies on its own soon after the engine would have replaced it.
 */

import { badRequest } from '../../sdk/errors';
import type { RotationSettings } from '../mount/config';
import { nextScheduledRotation } from '../mount/rotation-schedule';
import { PACHD_V1_MAX_TTL_SECONDS, type PachdGeneration } from '../pachd/auth-api';

/**
 * A rotation starts at the first rollback tick (each minute) after it is due, and a failed one is
 * retried after 1, 2, 4 and 8 minutes: fifteen minutes cover a late tick and three retries.
 */
export const STATIC_TOKEN_MARGIN_SECONDS = 15 * 60;
/**
 * What static-creds reports as ttl once a rotation is due but not yet done: the next tick should
 * do it, and a consumer that re-reads after ttl (consul-template) then finds the new token.
 */
export const OVERDUE_TTL_SECONDS = 30;
/** How many scheduled times are looked at to find the shortest interval of a cron schedule. */
const SAMPLED_TIMES = 64;

/** The next scheduled rotation after `now`; a role always has a period or a schedule. */
export function nextRotationAfter(settings: RotationSettings, now: Date): Date {
  const next = nextScheduledRotation(settings, now);
  if (next === undefined) throw new Error('a static role has neither rotation_period nor rotation_schedule');
  return next;
}

/** The token's lifetime at pachd, in seconds, for a rotation at `now`. */
export function staticTokenLifetimeSeconds(
  settings: RotationSettings,
  graceSeconds: number,
  now: Date,
  generation: PachdGeneration,
): number {
  const untilNext = Math.ceil((nextRotationAfter(settings, now).getTime() - now.getTime()) / 1000);
  const lifetime = untilNext + graceSeconds + STATIC_TOKEN_MARGIN_SECONDS;
  return generation === 1 ? Math.min(lifetime, PACHD_V1_MAX_TTL_SECONDS) : lifetime;
}

/** The shortest time between two rotations the settings make (a period, or a cron schedule sampled). */
export function shortestIntervalSeconds(settings: RotationSettings, now: Date): number {
  const period = settings.rotation_period_seconds ?? 0;
  if (period > 0) return period;
  let previous = nextRotationAfter(settings, now);
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < SAMPLED_TIMES; i += 1) {
    const next = nextRotationAfter(settings, previous);
    shortest = Math.min(shortest, (next.getTime() - previous.getTime()) / 1000);
    previous = next;
  }
  return shortest;
}

/** The longest time between two rotations, as far as sampled: what a 1.x token must cover. */
function longestIntervalSeconds(settings: RotationSettings, now: Date): number {
  const period = settings.rotation_period_seconds ?? 0;
  if (period > 0) return period;
  let previous = nextRotationAfter(settings, now);
  let longest = 0;
  for (let i = 0; i < SAMPLED_TIMES; i += 1) {
    const next = nextRotationAfter(settings, previous);
    longest = Math.max(longest, (next.getTime() - previous.getTime()) / 1000);
    previous = next;
  }
  return longest;
}

/**
 * Checks a role's schedule and grace against each other and against what the pachd generation can
 * issue; a 400 saying what to change.
 */
export function checkStaticTiming(
  settings: RotationSettings,
  graceSeconds: number,
  generation: PachdGeneration,
  now: Date,
): void {
  if ((settings.rotation_period_seconds ?? 0) === 0 && (settings.rotation_schedule ?? '') === '') {
    throw badRequest('a static role needs rotation_period (e.g. 24h) or rotation_schedule (e.g. "0 3 * * *")');
  }
  if (graceSeconds < 0) throw badRequest('rotation_grace cannot be negative');
  const shortest = shortestIntervalSeconds(settings, now);
  if (graceSeconds >= shortest) {
    throw badRequest(
      `rotation_grace (${graceSeconds}s) must be shorter than the time between two rotations (${shortest}s): ` +
        'otherwise more than two tokens of the robot would be alive at once',
    );
  }
  if (generation === 1) {
    const needed = longestIntervalSeconds(settings, now) + graceSeconds + STATIC_TOKEN_MARGIN_SECONDS;
    if (needed > PACHD_V1_MAX_TTL_SECONDS) {
      throw badRequest(
        `pachd 1.x issues tokens for at most ${PACHD_V1_MAX_TTL_SECONDS / 86400} days, and a token of this role ` +
          `would need ${needed}s (the time between rotations, rotation_grace and a ` +
          `${STATIC_TOKEN_MARGIN_SECONDS / 60}-minute margin): rotate more often`,
      );
    }
  }
}
