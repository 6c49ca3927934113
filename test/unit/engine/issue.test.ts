import { MOUNT_TTLS_REUSE_MS } from '../../../plugin/pachyderm/mount/mount-lease-ttls';
import { ErrorType } from '../../../plugin/sdk/errors';
import { SECRET_TYPE_KEY } from '../../../plugin/sdk/framework';
import { DAY, EngineHarness, HOUR } from './engine-harness';

describe.each([1, 2] as const)('issuing tokens against pachd %i.x', (generation) => {
  const user = generation === 1 ? 'okta:alice@example.com' : 'user:alice@example.com';
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('logs in as a subject (the original flow) and the token works at pachd as that subject', async () => {
    const response = await harness.request('update', 'login', { username: user, ttl: '30m' });
    const token = response?.data?.user_token as string;
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(response?.data).toMatchObject({ pachd_address: harness.pachd.pachdAddress, subject: user });
    // Nothing sets max_ttl: the engine's one-day default, not the mount's ten days.
    expect(response?.secret).toMatchObject({ ttl: 30n * 60n * 1_000_000_000n, maxTtl: DAY, renewable: true });
    expect(response?.secret?.internalData).toMatchObject({
      [SECRET_TYPE_KEY]: 'pachyderm_token',
      token,
      subject: user,
      generation,
      pachd_address: harness.pachd.pachdAddress,
      ttl_seconds: 1800,
      max_ttl_seconds: 86400,
      role: '',
      source: 'login',
    });
    expect(await harness.whoAmI(token)).toBe(user);
    const atPachd = harness.liveToken(token)!;
    // 1.x: the token lives as long as the lease (plus a few seconds); 2.x: it is cut at max_ttl.
    if (generation === 1) expect(atPachd.ttlSeconds).toBeGreaterThanOrEqual(1800);
    if (generation === 1) expect(atPachd.ttlSeconds).toBeLessThanOrEqual(1806);
    if (generation === 2) expect(Math.abs(atPachd.ttlSeconds - 86400)).toBeLessThanOrEqual(2);
  });

  it('logs, at trace and when asked, where each issuance spent its time: durations only, no token and no subject', async () => {
    const isTiming = (line: string) => /"@message":"issuance (timing|journal settled)"/.test(line);
    await harness.request('update', 'login', { username: 'robot:untimed', ttl: '30m' });
    // The harness logs at trace, as the plugin does by default: the timings still wait to be asked for.
    expect(harness.logLines.filter(isTiming)).toEqual([]);

    process.env['PLUGIN_ISSUANCE_TIMING'] = '1';
    const timed = EngineHarness.beside(harness);
    delete process.env['PLUGIN_ISSUANCE_TIMING'];
    await timed.configure();
    const response = await timed.request('update', 'login', { username: 'robot:timed', ttl: '30m' });
    const token = response?.data?.user_token as string;
    const timings = timed.logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry['@message'] === 'issuance timing' || entry['@message'] === 'issuance journal settled');
    expect(timings.map((entry) => entry['@message'])).toEqual(['issuance timing', 'issuance journal settled']);
    const phases = timings.flatMap((entry) => Object.keys(entry).filter((key) => !key.startsWith('@')));
    expect(phases).toEqual(expect.arrayContaining(['storage_wal_put_ms', 'pachd_mint_ms', 'storage_wal_delete_ms']));
    for (const entry of timings) {
      for (const [key, value] of Object.entries(entry)) {
        if (key.startsWith('@')) continue;
        expect(key).toMatch(/_ms$/);
        expect(typeof value).toBe('number');
      }
      expect(JSON.stringify(entry)).not.toContain(token);
      expect(JSON.stringify(entry)).not.toContain('robot:timed');
    }
    await timed.stop();
  });

  it('takes the subject from the path too, and refuses two different ones', async () => {
    const response = await harness.request('update', 'login/robot:ci');
    expect(await harness.whoAmI(response?.data?.user_token as string)).toBe('robot:ci');
    const error = await harness.failure('update', 'login/robot:ci', { username: 'robot:other' });
    expect(error.message).toContain('differ');
  });

  it('issues tokens for a role with a fixed subject', async () => {
    await harness.request('create', 'roles/ci', { subject: 'robot:ci', ttl: '10m', max_ttl: '1h' });
    expect((await harness.request('read', 'roles/ci'))?.data).toEqual({
      subject: 'robot:ci',
      subject_template: '',
      role_bindings: [],
      robot_name_template: '',
      ttl: 600,
      max_ttl: 3600,
    });
    expect((await harness.request('list', 'roles/'))?.data).toEqual({ keys: ['ci'] });
    const response = await harness.request('read', 'creds/ci');
    expect(response?.secret).toMatchObject({ ttl: 600n * 1_000_000_000n, maxTtl: HOUR });
    expect(response?.secret?.internalData).toMatchObject({ role: 'ci', source: 'creds' });
    expect(await harness.whoAmI(response?.data?.user_token as string)).toBe('robot:ci');
  });

  it("fills a role's subject_template from the caller's identity", async () => {
    const prefix = generation === 1 ? 'okta' : 'user';
    await harness.request('create', 'roles/self', {
      subject_template: `${prefix}:{{identity.entity.aliases.auth_oidc_1234.name}}`,
    });
    harness.system.entities.set('entity-1', {
      id: 'entity-1',
      name: 'alice',
      metadata: { email: 'alice@example.com' },
      aliases: [
        {
          id: 'a1',
          name: 'alice@example.com',
          mountType: 'oidc',
          mountAccessor: 'auth_oidc_1234',
          metadata: {},
          customMetadata: {},
        },
      ],
      disabled: false,
      namespaceId: 'root',
    });
    const response = await harness.request('read', 'creds/self', {}, { entityId: 'entity-1' });
    expect(await harness.whoAmI(response?.data?.user_token as string)).toBe(`${prefix}:alice@example.com`);

    const noEntity = await harness.failure('read', 'creds/self');
    expect(noEntity.type).toBe(ErrorType.InvalidRequest);
    expect(noEntity.message).toMatch(/no identity entity/);

    harness.system.entities.set('entity-2', {
      id: 'entity-2',
      name: 'bob',
      metadata: {},
      aliases: [],
      disabled: false,
      namespaceId: 'root',
    });
    const noAlias = await harness.failure('read', 'creds/self', {}, { entityId: 'entity-2' });
    expect(noAlias.message).toMatch(/alias on auth mount auth_oidc_1234 is missing/);
  });

  it('refuses malformed and unissuable subjects with 400s', async () => {
    const bad = ['alice', 'pach:root', 'group:admins', 'pipeline:edges', 'robot:a:b', 'user alice', ''];
    if (generation === 2) bad.push('github:alice');
    for (const subject of bad) {
      const error = await harness.failure('update', 'login', { username: subject });
      expect(error.type).toBe(ErrorType.InvalidRequest);
    }
    expect(harness.liveTokensExcept([harness.pachd.rootToken])).toEqual([]);
  });

  it('refuses a ttl above max_ttl, and on 1.x above 30 days', async () => {
    expect(
      (await harness.failure('update', 'login', { username: 'robot:ci', ttl: '2h', max_ttl: '1h' })).message,
    ).toMatch(/above max_ttl/);
    expect((await harness.failure('update', 'login', { username: 'robot:ci', max_ttl: '20d' })).message).toMatch(
      /max lease TTL/,
    );
    if (generation === 1) {
      harness.system.maxLeaseTtlValue = 60n * DAY;
      // The engine reuses the mount's TTLs for a second (mount-lease-ttls.ts): a tune shows after it.
      await new Promise((resolve) => setTimeout(resolve, MOUNT_TTLS_REUSE_MS));
      const error = await harness.failure('update', 'login', { username: 'robot:ci', ttl: '31d', max_ttl: '40d' });
      expect(error.message).toMatch(/30 days/);
    }
    expect(harness.liveTokensExcept([harness.pachd.rootToken])).toEqual([]);
  });

  it('asks for the configuration first', async () => {
    await harness.request('delete', 'config');
    const error = await harness.failure('update', 'login', { username: 'robot:ci' });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(/not configured/);
  });

  it('gives 502 with the address when pachd is down, and leaves no token behind', async () => {
    await harness.pachd.control.makeUnavailable();
    const error = await harness.failure('update', 'login', { username: user });
    expect(error.code).toBe(502);
    expect(error.message).toContain(harness.pachd.pachdAddress);
    await harness.pachd.control.makeAvailable();
    await harness.rollback({ immediate: true });
    expect(harness.liveTokensExcept([harness.pachd.rootToken])).toEqual([]);
    const after = await harness.request('update', 'login', { username: user });
    expect(await harness.whoAmI(after?.data?.user_token as string)).toBe(user);
  });

  it('revokes a token minted for a request that was cancelled', async () => {
    const error = await harness.failure('update', 'login', { username: user }, { cancelled: () => true });
    expect(error.message).toMatch(/cancelled/);
    expect(harness.liveTokensExcept([harness.pachd.rootToken])).toEqual([]);
  });

  it('never shows the admin token', async () => {
    await harness.request('update', 'login', { username: user });
    await harness.failure('update', 'login', { username: 'pach:root' });
    expect([...harness.transcript, ...harness.logLines].join('\n')).not.toContain(harness.pachd.rootToken);
  });
});

describe('issuing tokens against a pachd 1.x without RestoreAuthToken (1.11.2)', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 1, pachdVersion: '1.11.2' });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it("says pachd picks the token values, and passes on pachd's judgement of identity-provider prefixes as a 400", async () => {
    const config = (await harness.request('read', 'config'))?.data;
    expect(config).toMatchObject({ issuance_mode: 'pachd-generated' });
    expect(config?.issuance_mode_reason).toMatch(/predates RestoreAuthToken/);
    const error = await harness.failure('update', 'login', { username: 'nosuchidp:alice' });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toContain('unrecognized prefix');
    const issued = await harness.request('update', 'login', { username: 'okta:alice@example.com' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('okta:alice@example.com');
  });
});
