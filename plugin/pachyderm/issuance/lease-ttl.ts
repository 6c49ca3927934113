import { ceilSeconds, formatDuration, NANOS_PER_SECOND, secondsToNanos, type Nanoseconds } from '../../sdk/duration';
import { badRequest } from '../../sdk/errors';
import { PACHD_V1_MAX_TTL_SECONDS, type PachdGeneration } from '../pachd/auth-api';

/**
 * How long a lease and its pachd token live.
 *
 * 1.x can extend tokens, so the pachd token lives as long as the lease (plus a few seconds, so
 * it never dies before Vault revokes it) and renewing extends both; 30 days is pachd's cap for
 * one lifetime. 2.x cannot extend, so the pachd token is cut at max_ttl up front and the lease
 * carries the shorter ttl; renewing moves only the lease, never past max_ttl.
 *
 * The pachd lifetime is also the backstop for a lease lost outside the engine's control (`vault
 * lease revoke -force`, a restored snapshot, a mount disabled while pachd was down): the token
 * then lives until its pachd expiry. So when nothing sets them, ttl and max_ttl default to the
 * engine's own short values rather than the mount's 32 days.
 *
 * Values the caller asked for are checked (400 when impossible); defaults from the role, the
 * configuration or the mount are clamped with a warning instead.
 */
export interface TtlInputs {
  generation: PachdGeneration;
  /** Asked for in this request. */
  requestedTtl?: Nanoseconds | undefined;
  requestedMaxTtl?: Nanoseconds | undefined;
  /** From the role, when issuing through one. */
  roleTtl?: Nanoseconds | undefined;
  roleMaxTtl?: Nanoseconds | undefined;
  configTtl: Nanoseconds;
  configMaxTtl: Nanoseconds;
  mountDefaultTtl: Nanoseconds;
  mountMaxTtl: Nanoseconds;
}

export interface LeaseTtls {
  ttl: Nanoseconds;
  maxTtl: Nanoseconds;
  /** What to ask pachd for, in whole seconds. */
  pachdLifetimeSeconds: number;
  warnings: string[];
}

const ONE_SECOND = NANOS_PER_SECOND;
const HOUR = 3600n * ONE_SECOND;

/** The lease TTL when neither request, role nor configuration sets one (capped by the mount's default). */
export const ENGINE_DEFAULT_TTL = HOUR;
/**
 * The max TTL, and so the longest a lost lease's token outlives it, when nothing sets one (capped
 * by the mount's max).
 */
export const ENGINE_DEFAULT_MAX_TTL = 24n * HOUR;

/** How much longer than its lease a 1.x token lives, so Vault always revokes a live token. */
export const V1_EXPIRY_SKEW_SECONDS = 5;
/**
 * The shortest lifetime sent to pachd. pachd turns an expiry into whole seconds left, truncated,
 * and under one second left stores no expiry at all (2.x restores, 1.x restores; a real pachd
 * 2.11.6 returned expiries up to a second early): a lifetime this long stays clear of that even
 * when the two clocks disagree by a few seconds.
 */
export const MIN_PACHD_LIFETIME_SECONDS = 10;
/** Compensates pachd's rounding down, so a 2.x token never dies before its lease's max_ttl. */
const V2_ROUNDING_SECONDS = 1;
const V1_CAP = secondsToNanos(PACHD_V1_MAX_TTL_SECONDS);

/** The ttl and max_ttl that apply when nothing more specific sets them. */
export function defaultTtls(
  mountDefaultTtl: Nanoseconds,
  mountMaxTtl: Nanoseconds,
): { ttl: Nanoseconds; maxTtl: Nanoseconds } {
  const mountMax = mountMaxTtl > 0n ? mountMaxTtl : mountDefaultTtl;
  const maxTtl = mountMax > 0n && mountMax < ENGINE_DEFAULT_MAX_TTL ? mountMax : ENGINE_DEFAULT_MAX_TTL;
  let ttl = mountDefaultTtl > 0n && mountDefaultTtl < ENGINE_DEFAULT_TTL ? mountDefaultTtl : ENGINE_DEFAULT_TTL;
  if (ttl > maxTtl) ttl = maxTtl;
  return { ttl, maxTtl };
}

export function resolveLeaseTtls(inputs: TtlInputs): LeaseTtls {
  const warnings: string[] = [];
  const mountMax = inputs.mountMaxTtl > 0n ? inputs.mountMaxTtl : inputs.mountDefaultTtl;
  const defaults = defaultTtls(inputs.mountDefaultTtl, inputs.mountMaxTtl);

  let maxTtl = firstSet(inputs.requestedMaxTtl, inputs.roleMaxTtl, inputs.configMaxTtl) ?? defaults.maxTtl;
  if (mountMax > 0n && maxTtl > mountMax) {
    if (inputs.requestedMaxTtl !== undefined && inputs.requestedMaxTtl > 0n) {
      throw badRequest(
        `max_ttl ${formatDuration(maxTtl)} is above this mount's max lease TTL ${formatDuration(mountMax)}`,
      );
    }
    warnings.push(
      `max_ttl ${formatDuration(maxTtl)} is above this mount's max lease TTL; using ${formatDuration(mountMax)}`,
    );
    maxTtl = mountMax;
  }

  const requested = inputs.requestedTtl !== undefined && inputs.requestedTtl > 0n ? inputs.requestedTtl : undefined;
  const configured = firstSet(inputs.roleTtl, inputs.configTtl);
  let ttl = requested ?? configured ?? defaults.ttl;
  if (requested !== undefined) {
    if (requested > maxTtl) {
      throw badRequest(`ttl ${formatDuration(requested)} is above max_ttl ${formatDuration(maxTtl)}`);
    }
    if (inputs.generation === 1 && requested > V1_CAP) {
      throw badRequest(
        `ttl ${formatDuration(requested)} is above what pachd 1.x issues (${formatDuration(V1_CAP)}, 30 days); ` +
          'ask for less and renew the lease',
      );
    }
  }
  if (ttl > maxTtl) {
    // A default is simply capped; a ttl someone configured deserves a word.
    if (requested !== undefined || configured !== undefined) {
      warnings.push(`ttl ${formatDuration(ttl)} is above max_ttl; using ${formatDuration(maxTtl)}`);
    }
    ttl = maxTtl;
  }
  if (inputs.generation === 1 && ttl > V1_CAP) {
    warnings.push(`ttl ${formatDuration(ttl)} is above what pachd 1.x issues; using 30 days`);
    ttl = V1_CAP;
  }
  if (ttl < ONE_SECOND || maxTtl < ONE_SECOND) {
    throw badRequest('ttl and max_ttl must be at least one second');
  }

  return { ttl, maxTtl, pachdLifetimeSeconds: pachdLifetime(inputs.generation, ttl, maxTtl), warnings };
}

/** Seconds of life to give a token at pachd for a lease of `ttl`, at most `maxTtl` (see above). */
export function pachdLifetime(generation: PachdGeneration, ttl: Nanoseconds, maxTtl: Nanoseconds): number {
  if (generation === 1) {
    return Math.min(
      Math.max(ceilSeconds(ttl), MIN_PACHD_LIFETIME_SECONDS) + V1_EXPIRY_SKEW_SECONDS,
      PACHD_V1_MAX_TTL_SECONDS,
    );
  }
  return Math.max(ceilSeconds(maxTtl), MIN_PACHD_LIFETIME_SECONDS) + V2_ROUNDING_SECONDS;
}

function firstSet(...values: Array<Nanoseconds | undefined>): Nanoseconds | undefined {
  return values.find((value) => value !== undefined && value > 0n);
}
