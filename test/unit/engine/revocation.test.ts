import { createHash } from 'node:crypto';
import { ErrorType } from '../../../plugin/sdk/errors';
import { startPachdStandin, type PachdStandin } from '../../pachd/standin';
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
    const admin = harness.pachd.control.createToken({
      subject: 'robot:vault',
      roles: ['clusterAdmin'],
      ttlSeconds: 120,
    });
    await harness.configure({ admin_token: admin.token });
    const issued = await harness.request('update', 'login', { username: 'robot:ci', max_ttl: '2h' });
    const token = issued?.data?.user_token as string;
    // Past the admin token's expiry, before pachd's daily cleanup removes its row.
    harness.pachd.control.advanceClock(180);
    expect(harness.pachd.control.listTokens().find((view) => view.hash === admin.hash)?.expired).toBe(true);
    expect(await harness.revokeLease(issued)).toBeUndefined();
    expect(harness.liveToken(token)).toBeUndefined();
  });
});

describe.each([1, 2] as const)('leases issued at a pachd the configuration has moved away from, %i.x', (generation) => {
  let old: EngineHarness;
  let moved: PachdStandin;

  beforeEach(async () => {
    old = await EngineHarness.start({ generation });
    moved = await startPachdStandin({ generation, controlListen: null });
    await old.configure();
  });

  afterEach(async () => {
    await old.stop();
    await moved.stop();
  });

  it('revokes them with their own token: the new admin token never goes to the old address', async () => {
    const issued = await old.request('update', 'login', { username: 'robot:ci' });
    const token = issued?.data?.user_token as string;
    await old.request('update', 'config', { pachd_address: moved.pachdAddress, admin_token: moved.rootToken });
    old.pachd.control.resetStats();

    expect(await old.request('revoke', 'login', {}, { secret: leaseOf(issued) })).toBeUndefined();
    expect(old.liveToken(token)).toBeUndefined();
    const callers = old.pachd.control.stats().calls.byCaller;
    expect(callers[createHash('sha256').update(moved.rootToken).digest('hex')]).toBeUndefined();
    expect(callers[createHash('sha256').update(token).digest('hex')]).toBeGreaterThan(0);
  });

  it('renews them where no admin token is needed (2.x), and says why not where it is (1.x)', async () => {
    const issued = await old.request('update', 'login', { username: 'robot:ci', ttl: '10m', max_ttl: '1h' });
    await old.request('update', 'config', { pachd_address: moved.pachdAddress, admin_token: moved.rootToken });
    old.pachd.control.resetStats();
    if (generation === 2) {
      expect((await old.request('renew', 'login', {}, { secret: leaseOf(issued) }))?.secret?.ttl).toBeGreaterThan(0n);
    } else {
      const error = await old.failure('renew', 'login', {}, { secret: leaseOf(issued) });
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toMatch(/configured for another pachd/);
    }
    expect(
      old.pachd.control.stats().calls.byCaller[createHash('sha256').update(moved.rootToken).digest('hex')],
    ).toBeUndefined();
  });
});

describe('an issuance whose admin token was refused while the configuration moved to another pachd', () => {
  it('does not try the new admin token at the old pachd', async () => {
    const old = await EngineHarness.start({ generation: 2 });
    const moved = await startPachdStandin({ generation: 2, controlListen: null });
    try {
      await old.configure();
      old.pachd.control.setLatency('RestoreAuthToken', 150);
      old.pachd.control.injectError({
        method: 'RestoreAuthToken',
        code: 16,
        message: 'provided auth token is corrupted or has expired',
        count: 1,
      });
      old.pachd.control.resetStats();
      const issuing = old.failure('update', 'login', { username: 'robot:ci' });
      await new Promise((resolve) => setTimeout(resolve, 30));
      await old.request('update', 'config', { pachd_address: moved.pachdAddress, admin_token: moved.rootToken });
      expect((await issuing).code).toBe(502);
      expect(
        old.pachd.control.stats().calls.byCaller[createHash('sha256').update(moved.rootToken).digest('hex')],
      ).toBeUndefined();
    } finally {
      await old.stop();
      await moved.stop();
    }
  });
});
