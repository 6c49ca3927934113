/**
 * @file
 * How long 1.x pachd lets a token live: GetAuthToken's and ExtendAuthToken's caps by release,
 * and etcd's leases, which hold the token keys.
 */

import type { PachdVersion } from './pachd-version';

/** pachd's defaultSessionTTLSecs: the admin GetAuthToken cap (1.10+) and the Extend cap (1.7.2+). */
const THIRTY_DAYS_SECONDS = 2592000;
/** The ExtendAuthToken cap in 1.7.0 and 1.7.1. */
const FOURTEEN_DAYS_SECONDS = 1209600;
/**
 * etcd raises shorter leases to its minimum, ceil(1.5 × election timeout) = 2 s with the default
 * 1 s election timeout pachd's etcd runs with.
 */
const ETCD_MIN_LEASE_SECONDS = 2;

/**
 * The TTL pachd stores for a GetAuthToken, by release (docs/pachd-auth-api.md §8.3). `callerTtl` is the
 * caller's own token's whole seconds left, -1 when it never expires.
 */
export function grantedTtl(version: PachdVersion, requested: number, isAdmin: boolean, callerTtl: number): number {
  if (!version.isAtLeast(1, 7, 11)) return requested;
  if (!isAdmin) {
    // Never longer than the caller's own token; a caller without expiry (-1) hands that on.
    return requested === 0 || requested > callerTtl ? callerTtl : requested;
  }
  if (version.isAtLeast(1, 10, 0) && (requested === 0 || requested > THIRTY_DAYS_SECONDS)) {
    return THIRTY_DAYS_SECONDS;
  }
  return requested;
}

/** The most ExtendAuthToken adds. */
export function extendCap(version: PachdVersion): number {
  return version.isAtLeast(1, 7, 2) ? THIRTY_DAYS_SECONDS : FOURTEEN_DAYS_SECONDS;
}

/** PutTTL: zero or below attaches no lease, anything else an etcd lease of at least 2 s. */
export function leaseExpiryMs(nowMs: number, ttlSeconds: number): number | null {
  if (ttlSeconds <= 0) return null;
  return nowMs + Math.max(ttlSeconds, ETCD_MIN_LEASE_SECONDS) * 1000;
}
