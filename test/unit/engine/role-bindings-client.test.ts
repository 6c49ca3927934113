// The engine's pachd client for role bindings (PachdRoleBindings) against the stand-in, both
// generations: what it sends, what it refuses before sending, and how pachd's failures read.
import { PachdClients } from '../../../plugin/pachyderm/mount/pachd-clients';
import type { BindingResource, PachdAuthApi, PachdGeneration } from '../../../plugin/pachyderm/pachd/auth-api';
import { PachdError } from '../../../plugin/pachyderm/pachd/errors';
import { type PachdStandin, startPachdStandin } from '../../pachd/standin';

interface Setup {
  standin: PachdStandin;
  clients: PachdClients;
  auth: PachdAuthApi;
  root: string;
}

const running: Setup[] = [];

async function setup(generation: PachdGeneration, pachdVersion?: string): Promise<Setup> {
  const standin = await startPachdStandin({
    generation,
    controlListen: null,
    ...(pachdVersion ? { pachdVersion } : {}),
  });
  const clients = new PachdClients();
  const connection = clients.connection({
    pachd_address: standin.pachdAddress,
    pachd_tls_ca: '',
    request_timeout_seconds: 5,
    pachd_max_in_flight: 0,
  });
  const auth = await clients.authApi(connection, generation);
  const created = { standin, clients, auth, root: standin.rootToken };
  running.push(created);
  return created;
}

afterEach(async () => {
  for (const { standin, clients } of running.splice(0)) {
    clients.close();
    await standin.stop();
  }
});

async function failure(promise: Promise<unknown>): Promise<PachdError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof PachdError)) throw new Error(`expected a PachdError, got ${String(error)}`);
  return error;
}

const repo = (name: string): BindingResource => ({ type: 'repo', name });
const project = (name: string): BindingResource => ({ type: 'project', name });
const CLUSTER: BindingResource = { type: 'cluster', name: '' };

describe('pachd 2.x role bindings through the client', () => {
  test("setRoles binds, rolesOf reads the principal's own entry, [] removes it", async () => {
    const { standin, auth, root } = await setup(2);
    standin.control.createRepo({ name: 'images', owner: 'user:alice@example.com' });
    await auth.setRoles(root, repo('default/images'), 'robot:ci-1', ['repoReader', 'repoWriter']);
    expect(await auth.rolesOf(root, repo('default/images'), 'robot:ci-1')).toEqual(['repoReader', 'repoWriter']);
    expect(await auth.rolesOf(root, repo('default/images'), 'user:alice@example.com')).toEqual(['repoOwner']);
    await auth.setRoles(root, repo('default/images'), 'robot:ci-1', []);
    expect(await auth.rolesOf(root, repo('default/images'), 'robot:ci-1')).toEqual([]);
    expect(standin.control.resourceBindings().find((view) => view.name === 'default/images')?.entries).toEqual({
      'user:alice@example.com': ['repoOwner'],
    });
  });

  test('project and cluster bindings', async () => {
    const { standin, auth, root } = await setup(2);
    await auth.setRoles(root, project('default'), 'robot:ci-2', ['projectViewer']);
    await auth.setRoles(root, CLUSTER, 'robot:ci-2', ['robotUser']);
    expect(await auth.rolesOf(root, project('default'), 'robot:ci-2')).toEqual(['projectViewer']);
    expect(await auth.rolesOf(root, project('default'), 'allClusterUsers')).toEqual(['projectWriter']);
    expect(await auth.rolesOf(root, CLUSTER, 'robot:ci-2')).toEqual(['robotUser']);
    expect(standin.control.clusterRoleBindings()['robot:ci-2']).toEqual(['robotUser']);
  });

  test('a missing repo or project is resource-not-found for setRoles, rolesOf and canModifyBindings', async () => {
    const { auth, root } = await setup(2);
    const set = await failure(auth.setRoles(root, repo('default/nosuchrepo'), 'robot:x', ['repoReader']));
    expect(set.failure).toBe('resource-not-found');
    expect(set.detail).toBe('no role binding exists for REPO default/nosuchrepo');
    expect((await failure(auth.rolesOf(root, repo('default/nosuchrepo'), 'robot:x'))).failure).toBe(
      'resource-not-found',
    );
    expect((await failure(auth.rolesOf(root, project('nosuchproject'), 'robot:x'))).failure).toBe('resource-not-found');
    expect((await failure(auth.canModifyBindings(root, repo('default/nosuchrepo')))).failure).toBe(
      'resource-not-found',
    );
  });

  test('an unknown role and a malformed repo name are invalid-input', async () => {
    const { standin, auth, root } = await setup(2);
    standin.control.createRepo({ name: 'images' });
    const unknown = await failure(auth.setRoles(root, repo('default/images'), 'robot:x', ['noSuchRole']));
    expect(unknown.failure).toBe('invalid-input');
    expect(unknown.detail).toBe('unknown role "noSuchRole"');
    const bare = await failure(auth.setRoles(root, repo('images'), 'robot:x', ['repoReader']));
    expect(bare.failure).toBe('invalid-input');
    expect(bare.mayHaveApplied).toBe(false);
    expect(bare.message).toContain('<project>/<repo>');
  });

  test('canModifyBindings: admin everywhere, repoOwner on its repo, projectOwner on its project and repos', async () => {
    const { standin, auth, root } = await setup(2);
    standin.control.createProject({ name: 'ml', owner: 'user:pat@example.com' });
    standin.control.createRepo({ name: 'images', owner: 'user:alice@example.com' });
    standin.control.createRepo({ project: 'ml', name: 'models' });
    const alice = standin.control.createToken({ subject: 'user:alice@example.com' }).token;
    const pat = standin.control.createToken({ subject: 'user:pat@example.com' }).token;
    expect(await auth.canModifyBindings(root, CLUSTER)).toBe(true);
    expect(await auth.canModifyBindings(root, repo('default/images'))).toBe(true);
    expect(await auth.canModifyBindings(alice, repo('default/images'))).toBe(true);
    expect(await auth.canModifyBindings(alice, CLUSTER)).toBe(false);
    expect(await auth.canModifyBindings(alice, project('default'))).toBe(false);
    expect(await auth.canModifyBindings(alice, repo('ml/models'))).toBe(false);
    expect(await auth.canModifyBindings(pat, project('ml'))).toBe(true);
    expect(await auth.canModifyBindings(pat, repo('ml/models'))).toBe(true);
    expect(await auth.canModifyBindings(pat, repo('default/images'))).toBe(false);
    const denied = await failure(auth.setRoles(alice, repo('ml/models'), 'robot:x', ['repoReader']));
    expect(denied.failure).toBe('permission-denied');
    expect(denied.detail).toContain('needs permissions [REPO_MODIFY_BINDINGS] on REPO ml/models.');
  });

  test('revokeTokensOf deletes every token of exactly that subject and reports the count', async () => {
    const { standin, auth, root } = await setup(2);
    standin.control.createToken({ subject: 'robot:ci-3' });
    standin.control.createToken({ subject: 'robot:ci-3' });
    standin.control.createToken({ subject: 'robot:ci-30' });
    expect(await auth.revokeTokensOf(root, 'robot:ci-3')).toBe(2);
    expect(
      standin.control
        .listTokens()
        .map((token) => token.subject)
        .filter((s) => s.startsWith('robot:')),
    ).toEqual(['robot:ci-30']);
    expect(await auth.revokeTokensOf(root, 'robot:ci-3')).toBe(0);
    const pach = await failure(auth.revokeTokensOf(root, 'pach:root'));
    expect(pach.failure).toBe('invalid-input');
  });

  test('before 2.5: bare repo names, no projects, and no revoked count', async () => {
    const { standin, auth, root } = await setup(2, '2.4.6');
    standin.control.createRepo({ name: 'images' });
    await auth.setRoles(root, repo('images'), 'robot:old', ['repoWriter']);
    expect(await auth.rolesOf(root, repo('images'), 'robot:old')).toEqual(['repoWriter']);
    const projected = await failure(auth.setRoles(root, project('default'), 'robot:old', ['repoReader']));
    expect(projected.failure).toBe('invalid-input');
    expect(projected.message).toContain('before 2.5.0 has no projects');
    expect((await failure(auth.setRoles(root, repo('default/images'), 'robot:old', ['repoReader']))).failure).toBe(
      'invalid-input',
    );
    standin.control.createToken({ subject: 'robot:old' });
    expect(await auth.revokeTokensOf(root, 'robot:old')).toBe('unknown');
    expect(standin.control.listTokens().some((token) => token.subject === 'robot:old')).toBe(false);
  });
});

describe('pachd 1.x repo scopes through the client', () => {
  test('setRoles maps repo roles onto scopes; [] removes; rolesOf reads the ACL', async () => {
    const { standin, auth, root } = await setup(1);
    standin.control.createRepo({ name: 'images' });
    await auth.setRoles(root, repo('images'), 'robot:ci-1', ['repoWriter']);
    expect(await auth.rolesOf(root, repo('images'), 'robot:ci-1')).toEqual(['repoWriter']);
    expect(standin.control.resourceBindings().find((view) => view.name === 'images')?.entries).toEqual({
      'robot:ci-1': ['WRITER'],
    });
    await auth.setRoles(root, repo('images'), 'robot:ci-1', ['repoOwner']);
    expect(await auth.rolesOf(root, repo('images'), 'robot:ci-1')).toEqual(['repoOwner']);
    await auth.setRoles(root, repo('images'), 'robot:ci-1', []);
    expect(await auth.rolesOf(root, repo('images'), 'robot:ci-1')).toEqual([]);
    expect(standin.control.resourceBindings().find((view) => view.name === 'images')?.entries).toEqual({});
  });

  test('what 1.x cannot say is refused before anything is sent', async () => {
    const { standin, auth, root } = await setup(1);
    standin.control.createRepo({ name: 'images' });
    standin.control.resetStats();
    for (const attempt of [
      auth.setRoles(root, repo('images'), 'robot:x', ['repoReader', 'repoWriter']),
      auth.setRoles(root, repo('images'), 'robot:x', ['projectViewer']),
      auth.setRoles(root, project('default'), 'robot:x', ['repoReader']),
      auth.setRoles(root, CLUSTER, 'robot:x', ['repoReader']),
      auth.setRoles(root, repo('default/images'), 'robot:x', ['repoReader']),
    ]) {
      const error = await failure(attempt);
      expect(error.failure).toBe('invalid-input');
      expect(error.mayHaveApplied).toBe(false);
    }
    expect(standin.control.stats().calls.total).toBe(0);
    expect(await auth.revokeTokensOf(root, 'robot:x')).toBe('unsupported');
  });

  test('a missing repo is resource-not-found for setRoles', async () => {
    const { auth, root } = await setup(1);
    const error = await failure(auth.setRoles(root, repo('nosuchrepo'), 'robot:x', ['repoReader']));
    expect(error.failure).toBe('resource-not-found');
    expect(error.detail).toBe('/pachyderm_pfs/repos/ nosuchrepo not found');
  });

  test('canModifyBindings: admin, or OWNER on the repo', async () => {
    const { standin, auth, root } = await setup(1);
    standin.control.createRepo({ name: 'images', owner: 'robot:owner' });
    standin.control.createRepo({ name: 'other' });
    const owner = standin.control.createToken({ subject: 'robot:owner' }).token;
    const fs = standin.control.createToken({ subject: 'robot:fs', roles: ['FS'] }).token;
    expect(await auth.canModifyBindings(root, repo('images'))).toBe(true);
    expect(await auth.canModifyBindings(fs, repo('other'))).toBe(true);
    expect(await auth.canModifyBindings(owner, repo('images'))).toBe(true);
    expect(await auth.canModifyBindings(owner, repo('other'))).toBe(false);
    // An OWNER may change the ACL; a non-owner is refused with 1.x's words.
    await auth.setRoles(owner, repo('images'), 'robot:reader', ['repoReader']);
    const denied = await failure(auth.setRoles(owner, repo('other'), 'robot:reader', ['repoReader']));
    expect(denied.failure).toBe('permission-denied');
    expect(denied.detail).toBe(
      'robot:owner is not authorized to perform this operation on the repo other, must have at least OWNER access',
    );
  });
});
