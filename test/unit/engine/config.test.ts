import { createHash } from 'node:crypto';
import { ErrorType } from '../../../plugin/sdk/errors';
import { EngineHarness } from './engine-harness';

describe.each([1, 2] as const)('config against pachd %i.x', (generation) => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('verifies and stores a good configuration, and reads it back without the token', async () => {
    expect(await harness.configure({ ttl: '30m', max_ttl: '2h' })).toBeUndefined();
    const data = (await harness.request('read', 'config'))?.data;
    expect(data).toMatchObject({
      pachd_address: harness.pachd.pachdAddress,
      ttl: 1800,
      max_ttl: 7200,
      generation: 'auto',
      admin_subject: 'pach:root',
      admin_token_expires_at: null,
      pachd_generation: generation,
      pachd_version: generation === 1 ? '1.13.4' : '2.12.0',
      can_issue_user_tokens: true,
      can_issue_robot_tokens: true,
    });
    const hash = createHash('sha256').update(harness.pachd.rootToken).digest('hex');
    expect(data?.admin_token_fingerprint).toBe(`sha256:${hash.slice(0, 16)}`);
    expect(JSON.stringify(data)).not.toContain(harness.pachd.rootToken);
    expect(data).not.toHaveProperty('admin_token');
  });

  it('updates only the fields given', async () => {
    await harness.configure({ ttl: '30m' });
    await harness.request('update', 'config', { ttl: '45m' });
    expect((await harness.request('read', 'config'))?.data).toMatchObject({
      ttl: 2700,
      pachd_address: harness.pachd.pachdAddress,
    });
  });

  it('refuses a new address that does not answer with a 400 naming it, and stores nothing', async () => {
    const error = await harness.failure('create', 'config', {
      pachd_address: 'grpc://127.0.0.1:9',
      admin_token: harness.pachd.rootToken,
    });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toContain('grpc://127.0.0.1:9');
    expect(error.message).toMatch(/unreachable.*verify_connection=false/);
    expect(await harness.request('read', 'config')).toBeUndefined();
  });

  it('answers 502 when the configured pachd is down during an update, and keeps the stored configuration', async () => {
    await harness.configure({ ttl: '30m' });
    await harness.pachd.control.makeUnavailable();
    const error = await harness.failure('update', 'config', { ttl: '45m' });
    expect(error.code).toBe(502);
    expect(error.message).toMatch(/unreachable/);
    await harness.pachd.control.makeAvailable();
    expect((await harness.request('read', 'config'))?.data).toMatchObject({ ttl: 1800 });
  });

  it('refuses a token that is not an admin with a 400, and stores nothing', async () => {
    const subject = generation === 1 ? 'github:mallory' : 'user:mallory@example.com';
    const { token } = harness.pachd.control.createToken({ subject, ttlSeconds: 3600 });
    const error = await harness.failure('create', 'config', {
      pachd_address: harness.pachd.pachdAddress,
      admin_token: token,
    });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toContain(subject);
    expect(error.message).toMatch(/admin|CLUSTER_AUTH/);
    expect(error.message).not.toContain(token);
    expect(await harness.request('read', 'config')).toBeUndefined();
  });

  it('refuses a token pachd does not know', async () => {
    const error = await harness.failure('create', 'config', {
      pachd_address: harness.pachd.pachdAddress,
      admin_token: 'f'.repeat(32),
    });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toContain('rejected admin_token');
    expect(error.message).not.toContain('f'.repeat(32));
  });

  it('says when auth is not activated', async () => {
    harness.pachd.control.deactivateAuth();
    const error = await harness.failure('create', 'config', {
      pachd_address: harness.pachd.pachdAddress,
      admin_token: harness.pachd.rootToken,
    });
    expect(error.code).toBe(502);
    expect(error.message).toMatch(/auth is not activated/);
  });

  it('rejects malformed settings with 400s', async () => {
    const root = harness.pachd.rootToken;
    for (const [data, message] of [
      [{ pachd_address: 'ftp://x', admin_token: root }, 'unrecognized scheme'],
      [{ pachd_address: 'grpc://x:1/path', admin_token: root }, 'should not include a path'],
      [{ pachd_address: 'grpc://u:p@x', admin_token: root }, 'login credentials'],
      [{ pachd_address: harness.pachd.pachdAddress }, 'missing required field "admin_token"'],
      [{ admin_token: root }, 'missing required field "pachd_address"'],
      [
        { pachd_address: harness.pachd.pachdAddress, admin_token: root, pachd_tls_ca: '-----BEGIN CERTIFICATE-----' },
        'does not use TLS',
      ],
      [{ pachd_address: harness.pachd.pachdAddress, admin_token: root, ttl: '2h', max_ttl: '1h' }, 'above max_ttl'],
      [{ pachd_address: harness.pachd.pachdAddress, admin_token: root, generation: '3' }, 'is not one of'],
    ] as const) {
      const error = await harness.failure('create', 'config', data);
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toContain(message);
    }
    expect(await harness.request('read', 'config')).toBeUndefined();
  });

  it('stores without asking pachd when verify_connection is false', async () => {
    const response = await harness.request('create', 'config', {
      pachd_address: 'grpc://127.0.0.1:9',
      admin_token: 'a'.repeat(32),
      verify_connection: false,
    });
    expect(response?.warnings?.[0]).toMatch(/without checking/);
    expect((await harness.request('read', 'config'))?.data).toMatchObject({
      pachd_address: 'grpc://127.0.0.1:9',
      admin_subject: null,
    });
  });

  it('deletes the configuration', async () => {
    await harness.configure();
    await harness.request('delete', 'config');
    expect(await harness.request('read', 'config')).toBeUndefined();
  });

  it('never shows the admin token in any response or log line', async () => {
    await harness.configure();
    await harness.request('read', 'config');
    await harness.failure('create', 'config', {
      pachd_address: 'grpc://127.0.0.1:9',
      admin_token: harness.pachd.rootToken,
    });
    const everything = [...harness.transcript, ...harness.logLines].join('\n');
    expect(everything).not.toContain(harness.pachd.rootToken);
  });

  it('refuses to force the generation pachd does not speak, before asking the wrong API', async () => {
    const error = await harness.failure('create', 'config', {
      pachd_address: harness.pachd.pachdAddress,
      admin_token: harness.pachd.rootToken,
      generation: generation === 1 ? '2' : '1',
    });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(
      new RegExp(`forced to ${generation === 1 ? 2 : 1}, but pachd .* speaks generation ${generation}`),
    );
    expect(await harness.request('read', 'config')).toBeUndefined();
  });
});
