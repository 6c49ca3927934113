import { ErrorType } from '../../../plugin/sdk/errors';
import { EngineHarness, HOUR, leaseOf } from './engine-harness';

const MINUTE = 60n * 1_000_000_000n;

describe('leases against pachd 1.x', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 1 });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('renew extends the token at pachd, then the lease, never past max_ttl', async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci', ttl: '10m', max_ttl: '1h' });
    const token = issued?.data?.user_token as string;
    expect(harness.liveToken(token)?.ttlSeconds).toBeLessThanOrEqual(605);

    const renewed = await harness.request('renew', 'login', {}, { secret: leaseOf(issued, new Date(), 30n * MINUTE) });
    expect(renewed?.secret?.ttl).toBe(30n * MINUTE);
    expect(renewed?.secret?.internalData.token).toBe(token);
    expect(harness.liveToken(token)?.ttlSeconds).toBeGreaterThanOrEqual(1800);

    // Issued 50 minutes ago: only 10 minutes are left before max_ttl.
    const late = await harness.request(
      'renew',
      'login',
      {},
      { secret: leaseOf(renewed, new Date(Date.now() - 50 * 60_000), HOUR) },
    );
    expect(Number(late?.secret?.ttl) / 1e9).toBeCloseTo(600, -1);
    expect(late?.warnings?.[0]).toMatch(/max_ttl/);

    const expired = await harness.failure(
      'renew',
      'login',
      {},
      { secret: leaseOf(renewed, new Date(Date.now() - 2 * 3600_000), HOUR) },
    );
    expect(expired.message).toMatch(/reached its max_ttl/);
  });

  it('a renew that asks for less than pachd already gives keeps the token and moves the lease', async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci', ttl: '30m' });
    const renewed = await harness.request('renew', 'login', {}, { secret: leaseOf(issued, new Date(), 5n * MINUTE) });
    expect(renewed?.secret?.ttl).toBe(5n * MINUTE);
    expect(harness.liveToken(issued?.data?.user_token as string)?.ttlSeconds).toBeGreaterThan(1700);
  });

  it('renew of a token revoked at pachd says so', async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    await harness.request('update', 'revoke', { user_token: issued?.data?.user_token });
    const error = await harness.failure('renew', 'login', {}, { secret: leaseOf(issued, new Date(), HOUR) });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(/no longer exists at pachd/);
  });
});

describe('leases against pachd 2.x', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('renew moves only the lease; the pachd token was cut at max_ttl', async () => {
    const issued = await harness.request('update', 'login', {
      username: 'user:alice@example.com',
      ttl: '10m',
      max_ttl: '1h',
    });
    const token = issued?.data?.user_token as string;
    const before = harness.liveToken(token)!;
    expect(Math.abs(before.ttlSeconds - 3600)).toBeLessThanOrEqual(2);

    const renewed = await harness.request('renew', 'login', {}, { secret: leaseOf(issued, new Date(), 20n * MINUTE) });
    expect(renewed?.secret?.ttl).toBe(20n * MINUTE);
    expect(harness.liveToken(token)?.expiresAt).toBe(before.expiresAt);

    const late = await harness.request(
      'renew',
      'login',
      {},
      { secret: leaseOf(issued, new Date(Date.now() - 55 * 60_000), 20n * MINUTE) },
    );
    expect(Number(late?.secret?.ttl) / 1e9).toBeCloseTo(300, -1);
    const over = await harness.failure(
      'renew',
      'login',
      {},
      { secret: leaseOf(issued, new Date(Date.now() - 3600_000), MINUTE) },
    );
    expect(over.message).toMatch(/reached its max_ttl/);
  });

  it("renews near max_ttl in whole seconds, rounded down, and never past the token's pachd expiry", async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci', ttl: '4s', max_ttl: '12s' });
    // Issued 10.3 s ago by the host's clock: 1.7 s are left, which the host would round up to 2.
    const late = await harness.request(
      'renew',
      'login',
      {},
      { secret: leaseOf(issued, new Date(Date.now() - 10_300), 4n * 1_000_000_000n) },
    );
    expect(late?.secret?.ttl).toBe(1_000_000_000n);
    // The host's lease started later than the token's life at pachd: the token's expiry caps it.
    const expiresAt = Date.parse(issued?.data?.token_expires_at as string);
    const lateIssue = new Date(expiresAt - 12_000 + 5_000);
    const capped = await harness.request(
      'renew',
      'login',
      {},
      { secret: leaseOf(issued, lateIssue, 20n * 1_000_000_000n) },
    );
    const cappedSeconds = Number(capped?.secret?.ttl) / 1e9;
    expect(Number.isInteger(cappedSeconds)).toBe(true);
    expect(Date.now() + cappedSeconds * 1000).toBeLessThanOrEqual(expiresAt);
  });

  it('renew refuses a token revoked at pachd meanwhile', async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    await harness.request('update', 'revoke', { user_token: issued?.data?.user_token });
    expect((await harness.failure('renew', 'login', {}, { secret: leaseOf(issued) })).message).toMatch(
      /was revoked at pachd/,
    );
  });
});

describe.each([
  [1, '1.13.4'],
  [1, '1.12.5'],
  [1, '1.11.7'],
  [2, '2.12.0'],
  [2, '2.4.0'],
] as const)('revocation against pachd %i.x (%s)', (generation, pachdVersion) => {
  const user = generation === 1 ? 'okta:alice@example.com' : 'user:alice@example.com';
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation, pachdVersion });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('revoke kills the token at pachd, and a second revoke still succeeds', async () => {
    const issued = await harness.request('update', 'login', { username: user });
    const token = issued?.data?.user_token as string;
    expect(await harness.revokeLease(issued)).toBeUndefined();
    expect(await harness.whoAmI(token)).toBeUndefined();
    expect(harness.liveToken(token)).toBeUndefined();
    expect(await harness.revokeLease(issued)).toBeUndefined();
  });

  it('revokes with the token itself when the admin token no longer works', async () => {
    const admin = harness.pachd.control.createToken({
      subject: generation === 1 ? 'robot:vault' : 'robot:vault',
      roles: [generation === 1 ? 'SUPER' : 'clusterAdmin'],
    });
    await harness.configure({ admin_token: admin.token });
    const issued = await harness.request('update', 'login', { username: user });
    harness.pachd.control.deleteToken(admin.hash);
    await harness.revokeLease(issued);
    expect(harness.liveToken(issued?.data?.user_token as string)).toBeUndefined();
  });

  it('revokes after the configuration was deleted', async () => {
    const issued = await harness.request('update', 'login', { username: user });
    await harness.request('delete', 'config');
    await harness.revokeLease(issued);
    expect(harness.liveToken(issued?.data?.user_token as string)).toBeUndefined();
  });

  it('fails while pachd is down (so Vault retries) and succeeds once it is back', async () => {
    const issued = await harness.request('update', 'login', { username: user });
    await harness.pachd.control.makeUnavailable();
    const error = await harness.failure('revoke', 'login', {}, { secret: leaseOf(issued) });
    expect(error.code).toBe(502);
    expect(error.message).toContain(harness.pachd.pachdAddress);
    await harness.pachd.control.makeAvailable();
    await harness.revokeLease(issued);
    expect(harness.liveToken(issued?.data?.user_token as string)).toBeUndefined();
  });

  it('treats a lease that outlived its token as revoked', async () => {
    const issued = await harness.request('update', 'login', { username: user, ttl: '1m', max_ttl: '1m' });
    harness.pachd.control.advanceClock(3600);
    const lease = leaseOf(issued);
    lease.internalData = { ...lease.internalData, token_expires_at: new Date(Date.now() - 3600_000).toISOString() };
    expect(await harness.request('revoke', 'login', {}, { secret: lease })).toBeUndefined();
    expect(await harness.revokeLease(issued)).toBeUndefined();
  });

  it('stops Vault retrying a lease whose data is unusable', async () => {
    const error = await harness.failure(
      'revoke',
      'login',
      {},
      {
        secret: {
          leaseOptions: { ttl: 1n, maxTtl: 1n, renewable: true, increment: 0n, issueTime: new Date() },
          internalData: { secret_type: 'pachyderm_token' },
          leaseId: '',
        },
      },
    );
    expect(error.type).toBe(ErrorType.Unrecoverable);
  });

  it('revokes a token by value through the revoke path', async () => {
    const issued = await harness.request('update', 'login', { username: user });
    await harness.request('update', 'revoke', { user_token: issued?.data?.user_token });
    expect(harness.liveToken(issued?.data?.user_token as string)).toBeUndefined();
    await harness.request('update', 'revoke', { user_token: issued?.data?.user_token });
    expect((await harness.failure('update', 'revoke', {})).message).toContain('missing required field "user_token"');
  });
});
