import { listWal } from '../../../plugin/sdk/wal';
import { EngineHarness } from './engine-harness';

/**
 * pachd serializes token writes and collapses when many arrive at once, so a Vault node sends
 * at most pachd_max_in_flight of them to one pachd, counting every mount of the process.
 */
describe('the bound on token writes in flight at one pachd', () => {
  let first: EngineHarness;
  let second: EngineHarness;

  beforeEach(async () => {
    first = await EngineHarness.start({ generation: 2 });
    second = EngineHarness.beside(first);
  });

  afterEach(async () => {
    await second.stop();
    await first.stop();
  });

  const burst = (harness: EngineHarness, count: number, deadline?: number) =>
    Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        harness.request(
          'update',
          'login',
          { username: `robot:worker-${i}` },
          deadline === undefined ? {} : { deadline },
        ),
      ),
    );

  it('holds two mounts of one process to their bound together', async () => {
    await first.configure({ pachd_max_in_flight: 2 });
    await second.configure({ pachd_max_in_flight: 2 });
    first.pachd.control.setLatency('RestoreAuthToken', 20);
    first.pachd.control.resetStats();
    const results = await Promise.all([burst(first, 8), burst(second, 8)]);
    expect(results.flat().filter((result) => result.status === 'rejected')).toEqual([]);
    const stats = first.pachd.control.stats().writes;
    expect(stats.applied).toBe(16);
    expect(stats.maxInFlight).toBe(2);
  });

  it('lets everything through at once when the bound is removed (0)', async () => {
    await first.configure({ pachd_max_in_flight: 0 });
    first.pachd.control.setLatency('RestoreAuthToken', 20);
    first.pachd.control.resetStats();
    await burst(first, 8);
    expect(first.pachd.control.stats().writes.maxInFlight).toBe(8);
  });

  it("queues within each request's deadline and answers 503 only for the ones whose wait would pass it", async () => {
    await first.configure({ pachd_max_in_flight: 1 });
    first.pachd.control.setLatency('RestoreAuthToken', 150);
    const results = await burst(first, 4, Date.now() + 400);
    const refused = results.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as { code: number; message: string }] : [],
    );
    expect(results.filter((result) => result.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const error of refused) {
      expect(error.code).toBe(503);
      expect(error.message).toMatch(/is busy: .*at most 1 at once/);
    }
    first.pachd.control.setLatency('RestoreAuthToken', 0);
    // Nothing reached pachd for the refused ones, and nothing is journaled for them.
    expect(first.liveTokensExcept([first.pachd.rootToken])).toHaveLength(results.length - refused.length);
    expect(await listWal(first.storage)).toEqual([]);
  });
});
