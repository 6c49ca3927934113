// Role bindings in the stand-in at the wire: 2.x ModifyRoleBinding / GetRoleBinding /
// GetPermissions / Authorize / RevokeAuthTokensForUser, 1.x SetScope / GetScope / GetACL, and the
// control routes for repos, projects and bindings.
import * as grpc from '@grpc/grpc-js';

import { PachdTestClient } from './pachd-test-client';
import { type PachdStandin, startPachdStandin } from './standin';

const V2 = 'auth_v2.API';
const V1 = 'auth.API';
const REPO = 2;
const PROJECT = 4;
const REPO_READ = 200;
const REPO_WRITE = 201;
const REPO_MODIFY_BINDINGS = 202;
const PROJECT_MODIFY_BINDINGS = 404;
const SCOPE = { NONE: 0, READER: 1, WRITER: 2, OWNER: 3 };

interface Started {
  standin: PachdStandin;
  client: PachdTestClient;
  root: string;
  control: string;
}

const running: Started[] = [];

async function start(generation: 1 | 2, pachdVersion?: string): Promise<Started> {
  const standin = await startPachdStandin({ generation, ...(pachdVersion ? { pachdVersion } : {}) });
  const client = new PachdTestClient(standin.address);
  if (standin.controlUrl === undefined) throw new Error('no control URL');
  const started = { standin, client, root: standin.rootToken, control: standin.controlUrl };
  running.push(started);
  return started;
}

afterEach(async () => {
  for (const { standin, client } of running.splice(0)) {
    client.close();
    await standin.stop();
  }
});

async function rejection(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (error === undefined) throw new Error('expected the call to fail');
  return error as grpc.ServiceError;
}

async function http(
  base: string,
  method: string,
  route: string,
  body?: object,
): Promise<{ status: number; json: unknown }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${base}${route}`, init);
  return { status: response.status, json: await response.json() };
}

interface Binding {
  binding: { entries: Record<string, { roles: Record<string, boolean> }> };
}

describe('2.x role bindings', () => {
  const modify = (s: Started, token: string, resource: object, principal: string, roles: string[]) =>
    s.client.call<object>(V2, 'ModifyRoleBinding', { resource, principal, roles }, { token });
  const get = (s: Started, token: string, resource: object) =>
    s.client.call<Binding>(V2, 'GetRoleBinding', { resource }, { token });

  test('starts with project default granting allClusterUsers projectWriter; creators own what they create', async () => {
    const s = await start(2);
    const created = await http(s.control, 'POST', '/repos', { name: 'images', owner: 'user:alice@example.com' });
    expect(created).toEqual({
      status: 200,
      json: { type: 'repo', name: 'default/images', entries: { 'user:alice@example.com': ['repoOwner'] } },
    });
    expect((await http(s.control, 'POST', '/projects', { name: 'ml', owner: 'robot:pat' })).status).toBe(200);
    const bindings = await http(s.control, 'GET', '/bindings');
    expect(bindings.json).toEqual({
      resources: [
        {
          type: 'cluster',
          name: '',
          entries: {
            allClusterUsers: ['projectCreator'],
            'internal:auth-server': ['clusterAdmin'],
            'pach:root': ['clusterAdmin'],
          },
        },
        { type: 'project', name: 'default', entries: { allClusterUsers: ['projectWriter'] } },
        { type: 'project', name: 'ml', entries: { 'robot:pat': ['projectOwner'] } },
        { type: 'repo', name: 'default/images', entries: { 'user:alice@example.com': ['repoOwner'] } },
      ],
    });
    expect((await http(s.control, 'POST', '/repos', { project: 'nope', name: 'x' })).status).toBe(400);
    expect((await http(s.control, 'DELETE', '/projects/ml')).status).toBe(200);
    expect((await http(s.control, 'DELETE', '/repos/default/images')).json).toEqual({ deleted: 'default/images' });
    expect((await http(s.control, 'DELETE', '/repos/default/images')).status).toBe(404);
    const after = (await http(s.control, 'GET', '/bindings')).json as { resources: Array<{ name: string }> };
    expect(after.resources.map((view) => view.name)).toEqual(['', 'default']);
  });

  test('ModifyRoleBinding sets, replaces and removes an entry; GetRoleBinding shows it to any caller', async () => {
    const s = await start(2);
    s.standin.control.createRepo({ name: 'images' });
    const nobody = s.standin.control.createToken({ subject: 'robot:nobody' }).token;
    const images = { type: REPO, name: 'default/images' };
    await modify(s, s.root, images, 'robot:x', ['repoReader']);
    await modify(s, s.root, images, 'robot:x', ['repoWriter', 'repoOwner']);
    expect((await get(s, nobody, images)).binding.entries).toEqual({
      'robot:x': { roles: { repoWriter: true, repoOwner: true } },
    });
    await modify(s, s.root, images, 'robot:x', []);
    expect((await get(s, nobody, images)).binding.entries).toEqual({});
    // A missing repo has no binding: GetRoleBinding answers it empty rather than failing.
    expect((await get(s, nobody, { type: REPO, name: 'default/nosuchrepo' })).binding.entries).toEqual({});
  });

  test("pachd's refusals, in its words", async () => {
    const s = await start(2);
    s.standin.control.createRepo({ name: 'images' });
    const missing = await rejection(
      modify(s, s.root, { type: REPO, name: 'default/nosuchrepo' }, 'robot:x', ['repoReader']),
    );
    expect([missing.code, missing.details]).toEqual([
      grpc.status.UNKNOWN,
      'no role binding exists for REPO default/nosuchrepo',
    ]);
    const unknownRole = await rejection(
      modify(s, s.root, { type: REPO, name: 'default/images' }, 'robot:x', ['noSuchRole']),
    );
    expect([unknownRole.code, unknownRole.details]).toEqual([grpc.status.UNKNOWN, 'unknown role "noSuchRole"']);
    const noPrefix = await rejection(modify(s, s.root, { type: REPO, name: 'default/images' }, 'x', ['repoReader']));
    expect(noPrefix.details).toBe('subject has no prefix, must be of the form <type>:<name>');
    const pach = await rejection(modify(s, s.root, { type: 1, name: '' }, 'pach:other', ['clusterAdmin']));
    expect(pach.details).toBe('cannot modify cluster role bindings for pach: users');
    // pachd never checks CanBeBoundTo: a cluster-only role binds to a repo.
    await modify(s, s.root, { type: REPO, name: 'default/images' }, 'robot:odd', ['robotUser']);
    const outsider = s.standin.control.createToken({ subject: 'robot:outsider' }).token;
    const denied = await rejection(
      modify(s, outsider, { type: REPO, name: 'default/images' }, 'robot:x', ['repoReader']),
    );
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.details).toBe(
      'robot:outsider is not authorized to perform this operation - needs permissions [REPO_MODIFY_BINDINGS] on ' +
        'REPO default/images. Run `pachctl auth roles-for-permission` to find roles that grant a given permission.',
    );
  });

  test('GetPermissions and Authorize follow the bindings down cluster → project → repo', async () => {
    const s = await start(2);
    s.standin.control.createProject({ name: 'ml' });
    s.standin.control.createRepo({ project: 'ml', name: 'models' });
    const ci = s.standin.control.createToken({ subject: 'robot:ci' }).token;
    const models = { type: REPO, name: 'ml/models' };
    const permissions = () =>
      s.client.call<{ permissions: number[]; roles: string[] }>(
        V2,
        'GetPermissions',
        { resource: models },
        { token: ci },
      );
    expect(await permissions()).toEqual({ permissions: [], roles: [] });
    await modify(s, s.root, models, 'robot:ci', ['repoReader']);
    const reader = await permissions();
    expect(reader.roles).toEqual(['repoReader']);
    expect(reader.permissions).toContain(REPO_READ);
    expect(reader.permissions).not.toContain(REPO_WRITE);
    await modify(s, s.root, { type: PROJECT, name: 'ml' }, 'robot:ci', ['projectOwner']);
    expect((await permissions()).roles).toEqual(['projectOwner', 'repoReader']);
    const authorized = await s.client.call<{ authorized: boolean; missing: number[] }>(
      V2,
      'Authorize',
      { resource: { type: PROJECT, name: 'ml' }, permissions: [PROJECT_MODIFY_BINDINGS, REPO_MODIFY_BINDINGS] },
      { token: ci },
    );
    expect(authorized).toMatchObject({ authorized: true, missing: [] });
    // The owner of the project may now bind others on its repos.
    await modify(s, ci, models, 'robot:other', ['repoWriter']);
    // Even for an admin, GetPermissions on a missing repo reports the missing binding.
    const missing = await rejection(
      s.client.call(V2, 'GetPermissions', { resource: { type: REPO, name: 'ml/none' } }, { token: s.root }),
    );
    expect(missing.details).toBe(
      'cannot get permissions for principal: cannot evaluate role binding: no role binding exists for REPO ml/none',
    );
  });

  test('RevokeAuthTokensForUser needs CLUSTER_AUTH_REVOKE_USER_TOKENS and deletes exact subjects only', async () => {
    const s = await start(2);
    s.standin.control.createToken({ subject: 'robot:ci' });
    s.standin.control.createToken({ subject: 'robot:ci' });
    s.standin.control.createToken({ subject: 'robot:ci2' });
    const minter = s.standin.control.createToken({ subject: 'robot:minter', roles: ['robotUser'] }).token;
    const denied = await rejection(
      s.client.call(V2, 'RevokeAuthTokensForUser', { username: 'robot:ci' }, { token: minter }),
    );
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    s.standin.control.resetStats();
    const revoked = await s.client.call<{ number: string }>(
      V2,
      'RevokeAuthTokensForUser',
      { username: 'robot:ci' },
      { token: s.root },
    );
    expect(revoked.number).toBe('2');
    expect(
      s.standin.control
        .listTokens()
        .filter((token) => token.subject.startsWith('robot:ci'))
        .map((t) => t.subject),
    ).toEqual(['robot:ci2']);
    await modify(s, s.root, { type: 1, name: '' }, 'robot:ci2', ['robotUser']);
    // Both are database writes at pachd, so both count as writes.
    expect(s.standin.control.stats().writes).toMatchObject({ total: 2, applied: 2 });
  });

  test('before 2.5: bare repo names, no PROJECT type, no project roles', async () => {
    const s = await start(2, '2.4.6');
    expect((await http(s.control, 'POST', '/projects', { name: 'ml' })).status).toBe(400);
    s.standin.control.createRepo({ name: 'images' });
    await modify(s, s.root, { type: REPO, name: 'images' }, 'robot:x', ['repoReader']);
    expect((await get(s, s.root, { type: REPO, name: 'images' })).binding.entries).toEqual({
      'robot:x': { roles: { repoReader: true } },
    });
    const project = await rejection(modify(s, s.root, { type: PROJECT, name: 'default' }, 'robot:x', ['repoReader']));
    expect(project.details).toBe('unknown resource type 4');
    const role = await rejection(modify(s, s.root, { type: REPO, name: 'images' }, 'robot:x', ['projectViewer']));
    expect(role.details).toBe('unknown role "projectViewer"');
    expect(s.standin.control.clusterRoleBindings()).toEqual({ 'pach:root': ['clusterAdmin'] });
  });
});

describe('1.x scopes', () => {
  const setScope = (s: Started, token: string, username: string, repo: string, scope: number) =>
    s.client.call<object>(V1, 'SetScope', { username, repo, scope }, { token });
  const acl = (s: Started, token: string, repo: string) =>
    s.client.call<{ entries: Array<{ username: string; scope: number }> }>(V1, 'GetACL', { repo }, { token });

  test('SetScope canonicalizes the principal, NONE removes it, GetACL and GetScope read it', async () => {
    const s = await start(1);
    s.standin.control.createRepo({ name: 'images' });
    await setScope(s, s.root, 'robot:ci', 'images', SCOPE.WRITER);
    await setScope(s, s.root, 'alice', 'images', SCOPE.READER);
    const reader = s.standin.control.createToken({ subject: 'robot:reader' }).token;
    expect((await acl(s, reader, 'images')).entries).toEqual([
      { username: 'github:alice', scope: SCOPE.READER },
      { username: 'robot:ci', scope: SCOPE.WRITER },
    ]);
    const scopes = await s.client.call<{ scopes: number[] }>(
      V1,
      'GetScope',
      { username: 'robot:ci', repos: ['images', 'nosuchrepo'] },
      { token: s.root },
    );
    expect(scopes.scopes).toEqual([SCOPE.WRITER, SCOPE.NONE]);
    // A non-admin asking about someone else needs READER on the repo.
    const denied = await rejection(
      s.client.call(V1, 'GetScope', { username: 'robot:ci', repos: ['images'] }, { token: reader }),
    );
    expect(denied.details).toBe(
      'robot:reader is not authorized to perform this operation on the repo images, must have at least READER access',
    );
    await setScope(s, s.root, 'robot:ci', 'images', SCOPE.NONE);
    await setScope(s, s.root, 'github:alice', 'images', SCOPE.NONE);
    expect((await acl(s, reader, 'images')).entries).toEqual([]);
    expect((await acl(s, reader, 'nosuchrepo')).entries).toEqual([]);
  });

  test('SetScope on a missing repo, by a non-owner, and with empty fields', async () => {
    const s = await start(1);
    s.standin.control.createRepo({ name: 'images', owner: 'robot:owner' });
    const missing = await rejection(setScope(s, s.root, 'robot:x', 'nosuchrepo', SCOPE.READER));
    expect([missing.code, missing.details]).toEqual([
      grpc.status.UNKNOWN,
      '/pachyderm_pfs/repos/ nosuchrepo not found',
    ]);
    const owner = s.standin.control.createToken({ subject: 'robot:owner' }).token;
    const other = s.standin.control.createToken({ subject: 'robot:other' }).token;
    await setScope(s, owner, 'robot:other', 'images', SCOPE.WRITER);
    const denied = await rejection(setScope(s, other, 'robot:x', 'images', SCOPE.READER));
    expect(denied.details).toBe(
      'robot:other is not authorized to perform this operation on the repo images, must have at least OWNER access',
    );
    expect((await rejection(setScope(s, s.root, '', 'images', SCOPE.READER))).details).toBe(
      'invalid request: must set username',
    );
    expect((await rejection(setScope(s, s.root, 'robot:x', '', SCOPE.READER))).details).toBe(
      'invalid request: must set repo',
    );
    const view = (await http(s.control, 'GET', '/bindings')).json as {
      resources: Array<{ name: string; entries: object }>;
    };
    expect(view.resources.find((resource) => resource.name === 'images')?.entries).toEqual({
      'robot:other': ['WRITER'],
      'robot:owner': ['OWNER'],
    });
    expect((await http(s.control, 'POST', '/projects', { name: 'ml' })).status).toBe(400);
  });
});
