import { createHash } from 'node:crypto';
import { EngineHarness } from './engine-harness';

/**
 * Every writer of the configuration (writes, rotations, a rotation's completion in rollback)
 * runs alone and sees what the writer before it stored: no admin token is ever left live at
 * pachd without the configuration holding it, and none the configuration holds is dead.
 */
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

describe.each([
  { generation: 1 as const, admin: 'robot:vault', roles: ['SUPER'], rotateMethod: 'GetAuthToken' },
  { generation: 2 as const, admin: 'robot:vault', roles: ['clusterAdmin'], rotateMethod: 'RestoreAuthToken' },
  { generation: 2 as const, admin: 'pach:root', roles: [], rotateMethod: 'RotateRootToken' },
])(
  'concurrent writers of the config, pachd $generation.x, admin $admin',
  ({ generation, admin, roles, rotateMethod }) => {
    let harness: EngineHarness;
    let adminToken: string;

    beforeEach(async () => {
      harness = await EngineHarness.start({ generation });
      adminToken =
        admin === 'pach:root'
          ? harness.pachd.rootToken
          : harness.pachd.control.createToken({ subject: admin, roles, ttlSeconds: 7 * 24 * 3600 }).token;
      await harness.configure({ admin_token: adminToken });
    });

    afterEach(async () => {
      await harness.stop();
    });

    /** Admin-subject tokens alive at pachd, besides the stand-in's own root token. */
    const liveAdminTokens = () =>
      harness.pachd.control
        .listTokens()
        .filter((view) => view.subject === admin && !view.expired && view.hash !== hashOf(harness.pachd.rootToken));

    const configuredFingerprint = async () => (await harness.request('read', 'config'))?.data?.admin_token_fingerprint;

    it('serializes rotations: every one succeeds, and exactly the stored admin token is left live', async () => {
      // Slow the minting call so that, unserialized, every rotation would read the same old token.
      harness.pachd.control.setLatency(rotateMethod, 40);
      const rotations = await Promise.allSettled(
        Array.from({ length: 5 }, () => harness.request('update', 'config/rotate-root')),
      );
      harness.pachd.control.setLatency(rotateMethod, 0);
      expect(rotations.map((result) => result.status)).toEqual(Array(5).fill('fulfilled'));
      const fingerprints = rotations.map((result) =>
        result.status === 'fulfilled' ? result.value?.data?.admin_token_fingerprint : undefined,
      );
      expect(new Set(fingerprints).size).toBe(5);

      const configured = await configuredFingerprint();
      expect(configured).toBe(fingerprints[fingerprints.length - 1]);
      if (admin !== 'pach:root') {
        const live = liveAdminTokens();
        expect(live.map((view) => `sha256:${view.hash.slice(0, 16)}`)).toEqual([configured]);
      } else {
        expect(`sha256:${hashOf(harness.pachd.rootToken).slice(0, 16)}`).toBe(configured);
        expect(harness.pachd.control.listTokens().filter((view) => view.subject === 'pach:root')).toHaveLength(1);
      }
      // The stored token works: it still issues.
      const issued = await harness.request('update', 'login', { username: 'robot:ci' });
      expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
    });

    it('never lets a partial config write put back the token a rotation revoked', async () => {
      harness.pachd.control.setLatency(rotateMethod, 60);
      const writes = [
        harness.request('update', 'config/rotate-root'),
        harness.request('update', 'config', { ttl: '1h' }),
        harness.request('update', 'config/rotate-root'),
        harness.request('update', 'config', { max_ttl: '2h' }),
      ];
      const results = await Promise.allSettled(writes);
      harness.pachd.control.setLatency(rotateMethod, 0);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);

      const config = (await harness.request('read', 'config'))?.data;
      expect(config).toMatchObject({ ttl: 3600, max_ttl: 7200 });
      const issued = await harness.request('update', 'login', { username: 'robot:ci' });
      expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
      if (admin !== 'pach:root')
        expect(liveAdminTokens().map((view) => `sha256:${view.hash.slice(0, 16)}`)).toEqual([
          config?.admin_token_fingerprint,
        ]);
    });
  },
);

describe('a config write whose caller gave up while it waited', () => {
  it('changes nothing when its turn comes', async () => {
    const harness = await EngineHarness.start({ generation: 2 });
    try {
      await harness.configure({ ttl: '10m' });
      harness.pachd.control.setLatency('WhoAmI', 150);
      let gaveUp = false;
      const slow = harness.request('update', 'config', { ttl: '20m' });
      const abandoned = harness.request('update', 'config', { ttl: '30m' }, { cancelled: () => gaveUp });
      gaveUp = true;
      await slow;
      await expect(abandoned).rejects.toThrow(/cancelled while it waited/);
      harness.pachd.control.setLatency('WhoAmI', 0);
      expect((await harness.request('read', 'config'))?.data?.ttl).toBe(1200);
    } finally {
      await harness.stop();
    }
  });
});
