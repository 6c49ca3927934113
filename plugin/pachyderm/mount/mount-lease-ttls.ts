/**
 * @file
 * The mount's default and max lease TTLs, as the host tunes them, asked of the host at most once
 * a second. Each is a round trip to Vault over the broker, and an issuance needs both: under load
 * they were two of its eight gRPC calls.
 *
 * Why a second's staleness weakens nothing: an issuance that asked just before a `vault secrets
 * tune` and answers just after already carries the old values, so an answer built on values read
 * up to a second earlier is one that tune could have met in flight anyway. Vault itself caps
 * every lease at the mount's max TTL as it registers it, whatever the engine computed; the values
 * here set the pachd lifetime, the backstop for a lease lost outside the engine, and for a second
 * after a tune that backstop may follow the old max, as an in-flight request's would.
 */

import type { Nanoseconds } from '../../sdk/duration';
import type { SystemView } from '../../sdk/system-view';

export interface MountLeaseTtls {
  defaultTtl: Nanoseconds;
  maxTtl: Nanoseconds;
}

/** How long one answer from the host is reused. */
export const MOUNT_TTLS_REUSE_MS = 1000;

export class MountLeaseTtlCache {
  private latest: { ttls: Promise<MountLeaseTtls>; askedAt: number } | undefined;

  constructor(
    private readonly system: SystemView,
    private readonly now: () => number = Date.now,
  ) {}

  /** The mount's TTLs; concurrent callers share one question to the host, and a failure is not kept. */
  get(): Promise<MountLeaseTtls> {
    const now = this.now();
    const latest = this.latest;
    if (latest !== undefined && now - latest.askedAt < MOUNT_TTLS_REUSE_MS) return latest.ttls;
    const ttls = Promise.all([this.system.defaultLeaseTtl(), this.system.maxLeaseTtl()]).then(
      ([defaultTtl, maxTtl]) => ({ defaultTtl, maxTtl }),
    );
    const entry = { ttls, askedAt: now };
    this.latest = entry;
    ttls.catch(() => {
      if (this.latest === entry) this.latest = undefined;
    });
    return ttls;
  }
}
