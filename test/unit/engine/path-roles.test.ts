import { ErrorType } from '../../../plugin/sdk/errors';
import { getJson, putJson } from '../../../plugin/sdk/storage';
import { EngineHarness } from './engine-harness';

describe.each([1, 2] as const)('the roles path, pachd %i.x', (generation) => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('refuses roles it could never serve', async () => {
    for (const data of [
      {},
      { subject: 'robot:a', subject_template: 'user:{{identity.entity.name}}' },
      { subject: 'pach:root' },
      { subject_template: '{{identity.entity.name}}' },
      { subject_template: 'user:{{identity.entity.nope}}' },
      { subject_template: 'user:fixed' },
      { subject: 'robot:a', ttl: '2h', max_ttl: '1h' },
    ]) {
      expect((await harness.failure('create', 'roles/bad', data)).type).toBe(ErrorType.InvalidRequest);
    }
    expect(await harness.request('read', 'roles/bad')).toBeUndefined();
    expect((await harness.failure('read', 'creds/missing')).message).toContain('unknown role');
  });

  it('writes, reads, lists and deletes a role', async () => {
    expect(await harness.request('list', 'roles/')).toEqual({ data: { keys: [] } });
    await harness.request('create', 'roles/ci', { subject: ' robot:ci ', ttl: '10m', max_ttl: '1h' });
    await harness.request('create', 'roles/self', { subject_template: 'user:{{identity.entity.name}}' });
    expect((await harness.request('read', 'roles/ci'))?.data).toEqual({
      subject: 'robot:ci',
      subject_template: '',
      role_bindings: [],
      robot_name_template: '',
      ttl: 600,
      max_ttl: 3600,
    });
    expect((await harness.request('list', 'roles'))?.data).toEqual({ keys: ['ci', 'self'] });
    await harness.request('delete', 'roles/ci');
    expect(await harness.request('read', 'roles/ci')).toBeUndefined();
    expect((await harness.request('list', 'roles/'))?.data).toEqual({ keys: ['self'] });
    // Deleting what is not there is not an error, as in Vault's own engines.
    expect(await harness.request('delete', 'roles/ci')).toBeUndefined();
  });

  it('issues from a role kept in memory, and reads it afresh once the host says another node changed it', async () => {
    await harness.request('create', 'roles/ci', { subject: 'robot:ci' });
    expect((await harness.request('read', 'creds/ci'))?.data?.['subject']).toBe('robot:ci');
    // Another node of the cluster rewrites the role: storage changes under this process.
    const stored = await getJson<Record<string, unknown>>(harness.storage, 'roles/ci');
    await putJson(harness.storage, 'roles/ci', { ...stored, subject: 'robot:deploy' });
    expect((await harness.request('read', 'creds/ci'))?.data?.['subject']).toBe('robot:ci');
    harness.backend.invalidate('roles/ci');
    expect((await harness.request('read', 'creds/ci'))?.data?.['subject']).toBe('robot:deploy');
    // ... and deletes it.
    await harness.storage.delete('roles/ci');
    harness.backend.invalidate('roles/ci');
    expect((await harness.failure('read', 'creds/ci')).message).toContain('unknown role');
  });

  it('updates only the fields given, and giving another subject source replaces the old one', async () => {
    await harness.request('create', 'roles/ci', { subject: 'robot:ci', ttl: '10m', max_ttl: '1h' });
    await harness.request('update', 'roles/ci', { ttl: '20m' });
    expect((await harness.request('read', 'roles/ci'))?.data).toMatchObject({
      subject: 'robot:ci',
      ttl: 1200,
      max_ttl: 3600,
    });
    const template = generation === 1 ? 'okta:{{identity.entity.name}}' : 'user:{{identity.entity.name}}';
    await harness.request('update', 'roles/ci', { subject_template: template });
    expect((await harness.request('read', 'roles/ci'))?.data).toMatchObject({
      subject: '',
      subject_template: template,
      ttl: 1200,
    });
    await harness.request('update', 'roles/ci', { subject: 'robot:ci' });
    expect((await harness.request('read', 'roles/ci'))?.data).toMatchObject({
      subject: 'robot:ci',
      subject_template: '',
    });
  });

  it('refuses to clear the only subject source, and a ttl raised above the stored max_ttl', async () => {
    await harness.request('create', 'roles/ci', { subject: 'robot:ci', max_ttl: '1h' });
    expect((await harness.failure('update', 'roles/ci', { subject: '' })).message).toMatch(/a role needs a subject/);
    const above = await harness.failure('update', 'roles/ci', { ttl: '2h' });
    expect(above.type).toBe(ErrorType.InvalidRequest);
    expect(above.message).toMatch(/ttl 7200s is above max_ttl 3600s/);
    // Nothing of a refused write is stored.
    expect((await harness.request('read', 'roles/ci'))?.data).toMatchObject({
      subject: 'robot:ci',
      ttl: 0,
      max_ttl: 3600,
    });
  });

  it('refuses a robot_name_template without role_bindings', async () => {
    const error = await harness.failure('create', 'roles/ci', {
      subject: 'robot:ci',
      robot_name_template: 'vault-{{random 8}}',
    });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(/robot_name_template names dynamic robots/);
    expect(await harness.request('read', 'roles/ci')).toBeUndefined();
  });

  it("checks a fixed subject against the configured pachd's generation", async () => {
    // github: is a 1.x prefix; 2.x issues only user: and robot: subjects.
    if (generation === 1) {
      await harness.request('create', 'roles/gh', { subject: 'github:alice' });
      expect((await harness.request('read', 'roles/gh'))?.data).toMatchObject({ subject: 'github:alice' });
    } else {
      const error = await harness.failure('create', 'roles/gh', { subject: 'github:alice' });
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toMatch(/only to user: and robot: subjects/);
      expect(await harness.request('read', 'roles/gh')).toBeUndefined();
    }
  });

  it('takes only role names Vault paths can hold', async () => {
    for (const name of ['-ci', 'ci-', 'c i', 'ci/x']) {
      await expect(harness.request('create', `roles/${name}`, { subject: 'robot:ci' })).rejects.toThrow();
    }
    await harness.request('create', 'roles/c.i-1_x', { subject: 'robot:ci' });
    expect((await harness.request('list', 'roles/'))?.data).toEqual({ keys: ['c.i-1_x'] });
  });
});

describe('the roles path before any configuration', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('stores a role whose subject only a configured pachd could refuse, checking its form alone', async () => {
    await harness.request('create', 'roles/gh', { subject: 'github:alice' });
    expect((await harness.request('read', 'roles/gh'))?.data).toMatchObject({ subject: 'github:alice' });
    expect((await harness.failure('create', 'roles/root', { subject: 'pach:root' })).type).toBe(
      ErrorType.InvalidRequest,
    );
  });
});
