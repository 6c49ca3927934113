import { MOUNT_TTLS_REUSE_MS, MountLeaseTtlCache } from '../../../plugin/pachyderm/mount/mount-lease-ttls';
import type { Nanoseconds } from '../../../plugin/sdk/duration';
import { StaticSystemView } from '../../../plugin/sdk/system-view';

const HOUR = 3600n * 1_000_000_000n;

/** A host that counts the questions it is asked, and can be told to fail them. */
class CountingSystemView extends StaticSystemView {
  asked = 0;
  failing = false;

  override async defaultLeaseTtl(): Promise<Nanoseconds> {
    this.asked += 1;
    if (this.failing) throw new Error('host unreachable');
    return this.defaultLeaseTtlValue;
  }

  override async maxLeaseTtl(): Promise<Nanoseconds> {
    this.asked += 1;
    if (this.failing) throw new Error('host unreachable');
    return this.maxLeaseTtlValue;
  }
}

describe('the mount lease TTL cache', () => {
  let clock: number;
  let system: CountingSystemView;
  let cache: MountLeaseTtlCache;

  beforeEach(() => {
    clock = 1_000_000;
    system = new CountingSystemView({ defaultLeaseTtl: HOUR, maxLeaseTtl: 24n * HOUR });
    cache = new MountLeaseTtlCache(system, () => clock);
  });

  it('asks the host once for concurrent callers, and reuses the answer within the window', async () => {
    const answers = await Promise.all([cache.get(), cache.get(), cache.get()]);
    expect(answers).toEqual([1, 2, 3].map(() => ({ defaultTtl: HOUR, maxTtl: 24n * HOUR })));
    clock += MOUNT_TTLS_REUSE_MS - 1;
    await cache.get();
    expect(system.asked).toBe(2);
  });

  it('sees a tune once the window has passed', async () => {
    await cache.get();
    system.maxLeaseTtlValue = 2n * HOUR;
    expect((await cache.get()).maxTtl).toBe(24n * HOUR);
    clock += MOUNT_TTLS_REUSE_MS;
    expect((await cache.get()).maxTtl).toBe(2n * HOUR);
    expect(system.asked).toBe(4);
  });

  it('keeps no failure: the next caller asks again', async () => {
    system.failing = true;
    await expect(cache.get()).rejects.toThrow('host unreachable');
    system.failing = false;
    expect(await cache.get()).toEqual({ defaultTtl: HOUR, maxTtl: 24n * HOUR });
    expect(system.asked).toBe(4);
  });
});
