import { ErrorType, VaultError } from '../../../plugin/sdk/errors';
import type { Operation } from '../../../plugin/sdk/logical';
import { putJson } from '../../../plugin/sdk/storage';
import { EngineHarness } from './engine-harness';

/**
 * Input built to break parsers gets a clear 400 that repeats no secret, and changes nothing.
 * (The conformance suite fuzzes the same through Vault's own plugin client.)
 */
describe.each([1, 2] as const)('hostile input, pachd %i.x', (generation) => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure();
    await harness.request('create', 'roles/ci', { subject: 'robot:ci' });
  });

  afterEach(async () => {
    await harness.stop();
  });

  /** The request's 4xx error; fails the test on success or on anything but a client error. */
  async function refused(operation: Operation, path: string, data: Record<string, unknown>): Promise<VaultError> {
    const snapshot = JSON.stringify([...harness.storage.entries.entries()].filter(([key]) => !key.startsWith('wal/')));
    const error = await harness.failure(operation, path, data);
    expect([ErrorType.InvalidRequest, ErrorType.UnsupportedPath, ErrorType.UnsupportedOperation]).toContain(error.type);
    expect(JSON.stringify([...harness.storage.entries.entries()].filter(([key]) => !key.startsWith('wal/')))).toBe(
      snapshot,
    );
    return error;
  }

  const digits = '9'.repeat(400);

  it('answers durations of hundreds of digits with a 400, on every duration field', async () => {
    for (const [operation, path, field] of [
      ['update', 'config', 'ttl'],
      ['update', 'config', 'max_ttl'],
      ['update', 'config', 'request_timeout'],
      ['update', 'config/rotate-root', 'ttl'],
      ['update', 'roles/ci', 'ttl'],
      ['update', 'login', 'ttl'],
      ['update', 'login', 'max_ttl'],
      ['read', 'creds/ci', 'ttl'],
    ] as const) {
      for (const value of [digits, `${digits}.5`, `${digits}h`]) {
        const error = await refused(operation, path, { username: 'robot:ci', [field]: value });
        expect(error.message).toMatch(/expected a duration/);
      }
    }
  });

  it('never takes a body key named after an inherited property for a field', async () => {
    const keys = JSON.parse(
      '{"constructor": 1, "toString": "x", "__proto__": {"polluted": true}, "valueOf": [], "hasOwnProperty": null}',
    ) as Record<string, unknown>;
    for (const [operation, path] of [
      ['update', 'config'],
      ['update', 'roles/ci'],
      ['update', 'login'],
      ['update', 'revoke'],
      ['read', 'creds/ci'],
      ['read', 'version'],
    ] as const) {
      try {
        const response = await harness.request(operation, path, {
          ...keys,
          username: 'robot:ci',
          user_token: 'f'.repeat(32),
        });
        expect(response?.warnings?.join(' ') ?? '').toMatch(/unrecognized parameters|^$/);
      } catch (error) {
        expect(error).toBeInstanceOf(VaultError);
        expect((error as VaultError).type).toBe(ErrorType.InvalidRequest);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses templates that could never render, and subjects in prefixes pachd reserves', async () => {
    for (const template of [
      'user:{{identity.entity.aliases..name}}',
      'user:{{identity.entity.metadata.}}',
      'user:{{identity.entity.aliases. .name}}',
    ]) {
      await refused('update', 'roles/bad', { subject_template: template });
    }
    for (const subject of [
      'robot:ci\u0085',
      'robot:ci\u0090x',
      'robot:ci\u200b',
      'robot:\u202eic',
      'robot:ci\u2066',
      'robot:c\u00a0i',
    ]) {
      expect((await refused('update', 'login', { username: subject })).message).toMatch(/invisible/);
      await refused('update', 'roles/c1', { subject });
    }
    for (const subject of ['group/okta:admins', 'GROUP/okta:admins', 'group:admins']) {
      expect((await refused('update', 'login', { username: subject })).message).toMatch(/groups/);
    }
    // A prefix named like an inherited property is an ordinary prefix: 2.x refuses it as it
    // refuses any but user: and robot:; 1.x takes it for an identity provider's name.
    for (const subject of ['constructor:x', 'toString:x', '__proto__:x']) {
      if (generation === 2)
        expect((await refused('update', 'login', { username: subject })).message).toMatch(/only to user: and robot:/);
      else expect((await harness.request('update', 'login', { username: subject }))?.data?.subject).toBe(subject);
    }
  });

  it("refuses on 2.x a subject longer than pachd's token table holds, before asking pachd", async () => {
    if (generation === 1) return;
    const subject = `user:${'a'.repeat(124)}`;
    expect((await refused('update', 'login', { username: subject })).message).toMatch(/at most 128 characters/);
    expect((await refused('update', 'roles/long', { subject })).message).toMatch(/at most 128 characters/);
    expect((await harness.request('update', 'login', { username: subject.slice(0, 128) }))?.data?.subject).toHaveLength(
      128,
    );
  });

  it('bounds the length of every string it stores or sends', async () => {
    const huge = 'a'.repeat(1 << 20);
    await refused('update', 'login', { username: `robot:${huge}` });
    await refused('update', 'roles/ci', { subject: `robot:${huge}` });
    await refused('update', 'roles/ci', { subject_template: `user:{{identity.entity.name}}${huge}` });
    await refused('update', `roles/${'r'.repeat(200)}`, { subject: 'robot:ci' });
    const adminError = await refused('update', 'config', { admin_token: huge });
    expect(adminError.message.length).toBeLessThan(300);
    await refused('update', 'config', { pachd_address: `grpc://${huge}:1` });
    await refused('update', 'revoke', { user_token: huge });
    await refused('update', 'config', { request_timeout: '25d' });
    await refused('update', 'config', { request_timeout: '301s' });
    await refused('update', 'config', { pachd_max_in_flight: 65 });
    await refused('update', 'config', { pachd_max_in_flight: -1 });
  });

  it('refuses an admin token holding characters gRPC metadata cannot carry, without repeating it, verified or not', async () => {
    const pasted = `${harness.pachd.rootToken}\u200b`;
    for (const verify of [true, false]) {
      const error = await refused('update', 'config', { admin_token: pasted, verify_connection: verify });
      expect(error.message).toMatch(/characters no pachd token has/);
      expect(error.message).not.toContain(harness.pachd.rootToken);
    }
    expect([...harness.transcript, ...harness.logLines].join('\n')).not.toContain(harness.pachd.rootToken);
  });

  it('keeps such a token out of every answer and log line if one is stored anyway (written by an older version)', async () => {
    const config = (await harness.storage.get('config'))!;
    const stored = JSON.parse(config.value.toString()) as Record<string, unknown>;
    const pasted = `${harness.pachd.rootToken}\u200b`;
    await putJson(harness.storage, 'config', { ...stored, admin_token: pasted });
    await harness.request('read', 'config'); // the engine reloads it from storage
    harness.backend.invalidate('config');
    const error = await harness.failure('update', 'login', { username: 'robot:ci' });
    expect(error.message).not.toContain(harness.pachd.rootToken);
    expect([...harness.transcript, ...harness.logLines].join('\n')).not.toContain(harness.pachd.rootToken);
  });

  it('repeats no sensitive value in a 400, and no line of the debug log carries one', async () => {
    const secret = 'f00dfeedcafe1234deadbeef00112233';
    await refused('update', 'config', { admin_token: { nested: secret } });
    await refused('update', 'config', { admin_token: [secret] });
    await refused('update', 'revoke', { user_token: { nested: secret } });
    expect([...harness.transcript, ...harness.logLines].join('\n')).not.toContain(secret);
  });
});
