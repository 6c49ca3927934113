import { ErrorType } from '../../../plugin/sdk/errors';
import { EngineHarness, leaseOf } from './engine-harness';

describe('revocation when the admin token has expired (pachd 2.x)', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('falls back to the token itself when pachd answers "token expiration is in the past" for the admin token', async () => {
    const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['clusterAdmin'], ttlSeconds: 120 });
    await harness.configure({ admin_token: admin.token });
    const issued = await harness.request('update', 'login', { username: 'robot:ci', max_ttl: '2h' });
    const token = issued?.data?.user_token as string;
    // Past the admin token's expiry, before pachd's daily cleanup removes its row.
    harness.pachd.control.advanceClock(180);
    expect(harness.pachd.control.listTokens().find((view) => view.hash === admin.hash)?.expired).toBe(true);
    expect(await harness.request('revoke', 'login', {}, { secret: leaseOf(issued) })).toBeUndefined();
    expect(harness.liveToken(token)).toBeUndefined();
  });
});

describe.each([1, 2] as const)('the revoke path, pachd %i.x', (generation) => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it("refuses the engine's own admin token with a 400 that does not repeat it, and the admin token keeps working", async () => {
    const root = harness.pachd.rootToken;
    for (const value of [root, ` ${root} `]) {
      const error = await harness.failure('update', 'revoke', { user_token: value });
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toMatch(/own admin token/);
      expect(error.message).not.toContain(root);
    }
    expect(await harness.whoAmI(root)).toBe('pach:root');
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
  });

  it('refuses an empty or blank user_token with a 400 instead of doing nothing', async () => {
    for (const value of ['', '   ', '\t']) {
      const error = await harness.failure('update', 'revoke', { user_token: value });
      expect(error.type).toBe(ErrorType.InvalidRequest);
    }
    expect((await harness.failure('update', 'revoke', {})).message).toMatch(/missing required field "user_token"/);
  });
});
