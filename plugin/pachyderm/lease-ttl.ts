import { formatDuration, NANOS_PER_SECOND, secondsToNanos, type Nanoseconds } from '../sdk/duration';
import { badRequest } from '../sdk/errors';
import { PACHD_V1_MAX_TTL_SECONDS, type PachdGeneration } from './pachd/authority';

/**
 * How long a lease and its pachd token live.
 *
 * 1.x can extend tokens, so the pachd token lives as long as the lease (plus a few seconds, so
 * it never dies before Vault revokes it) and renewing extends both; 30 days is pachd's cap for
 * one lifetime. 2.x cannot extend, so the pachd token is cut at max_ttl up front and the lease
 * carries the shorter ttl; renewing moves only the lease, never past max_ttl.
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

/** How much longer than its lease a 1.x token lives, so Vault always revokes a live token. */
export const V1_EXPIRY_SKEW_SECONDS = 5;
const V1_CAP = secondsToNanos(PACHD_V1_MAX_TTL_SECONDS);
const ONE_SECOND = NANOS_PER_SECOND;

export function resolveLeaseTtls(inputs: TtlInputs): LeaseTtls {
  const warnings: string[] = [];
  const mountMax = inputs.mountMaxTtl > 0n ? inputs.mountMaxTtl : inputs.mountDefaultTtl;

  let maxTtl = firstSet(inputs.requestedMaxTtl, inputs.roleMaxTtl, inputs.configMaxTtl) ?? mountMax;
  if (mountMax > 0n && maxTtl > mountMax) {
    if (inputs.requestedMaxTtl !== undefined && inputs.requestedMaxTtl > 0n) {
      throw badRequest(
        `max_ttl ${formatDuration(maxTtl)} is above this mount's max lease TTL ${formatDuration(mountMax)}`,
      );
    }
    warnings.push(`max_ttl ${formatDuration(maxTtl)} is above this mount's max lease TTL; using ${formatDuration(mountMax)}`);
    maxTtl = mountMax;
  }

  const requested = inputs.requestedTtl !== undefined && inputs.requestedTtl > 0n ? inputs.requestedTtl : undefined;
  let ttl = requested ?? firstSet(inputs.roleTtl, inputs.configTtl) ?? inputs.mountDefaultTtl;
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
    warnings.push(`ttl ${formatDuration(ttl)} is above max_ttl; using ${formatDuration(maxTtl)}`);
    ttl = maxTtl;
  }
  if (inputs.generation === 1 && ttl > V1_CAP) {
    warnings.push(`ttl ${formatDuration(ttl)} is above what pachd 1.x issues; using 30 days`);
    ttl = V1_CAP;
  }
  if (ttl < ONE_SECOND || maxTtl < ONE_SECOND) {
    throw badRequest('ttl and max_ttl must be at least one second');
  }

  const pachdLifetimeSeconds =
    inputs.generation === 1
      ? Math.min(ceilSeconds(ttl) + V1_EXPIRY_SKEW_SECONDS, PACHD_V1_MAX_TTL_SECONDS)
      : ceilSeconds(maxTtl);
  return { ttl, maxTtl, pachdLifetimeSeconds, warnings };
}

export function ceilSeconds(nanos: Nanoseconds): number {
  return Number((nanos + ONE_SECOND - 1n) / ONE_SECOND);
}

function firstSet(...values: Array<Nanoseconds | undefined>): Nanoseconds | undefined {
  return values.find((value) => value !== undefined && value > 0n);
}
