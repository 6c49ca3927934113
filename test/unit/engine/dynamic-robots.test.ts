import { ErrorType } from '../../../plugin/sdk/errors';
import { getWal, listWal, putWal } from '../../../plugin/sdk/wal';
import type { Response } from '../../../plugin/sdk/logical';
import { EngineHarness, leaseOf } from './engine-harness';

/*
 * creds/<role> for a role with role_bindings: a robot of its own per read, holding exactly the
 * role's bindings while its lease lives, and nothing left at pachd once the lease ends, however
 * it ends.
 */

const ROBOT_NAME = /^robot:vault-dyn-\d{10}-[a-z0-9]{8}$/;

describe.each([1, 2] as const)('dynamic robots against pachd %i.x', (generation) => {
  let harness: EngineHarness;
  // 1.x names repos bare and grants scopes; 2.x names them project/repo and binds roles.
  const repo = (name: string) => (generation === 1 ? name : `default/${name}`);
  const written =
    generation === 1
      ? ['repo:images=repoReader', 'repo:edges=repoWriter']
      : ['repo:default/images=repoReader', 'repo:default/edges=repoWriter', 'project:default=projectViewer'];
  const expectedBindings: Record<string, string[]> =
    generation === 1
      ? { 'repo:images': ['READER'], 'repo:edges': ['WRITER'] }
      : {
          'repo:default/images': ['repoReader'],
          'repo:default/edges': ['repoWriter'],
          'project:default': ['projectViewer'],
        };

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure();
    for (const name of ['images', 'edges']) harness.pachd.control.createRepo({ name });
  });

  afterEach(async () => {
    await harness.stop();
  });

  /** Every binding a principal holds at pachd, keyed `type:name`. */
  function bindingsOf(principal: string): Record<string, string[]> {
    const held: Record<string, string[]> = {};
    for (const view of harness.pachd.control.resourceBindings()) {
      const roles = view.entries[principal];
      if (roles !== undefined && roles.length > 0) {
        held[view.type === 'cluster' ? 'cluster' : `${view.type}:${view.name}`] = [...roles].sort();
      }
    }
    return held;
  }

  /** Principals of this engine's robots holding anything at pachd: a binding or a live token. */
  function robotsLeft(): string[] {
    const principals = new Set<string>();
    for (const view of harness.pachd.control.resourceBindings()) {
      for (const [principal, roles] of Object.entries(view.entries) as [string, string[]][]) {
        if (principal.startsWith('robot:vault-') && roles.length > 0) principals.add(principal);
      }
    }
    for (const token of harness.pachd.control.listTokens()) {
      if (!token.expired && token.subject.startsWith('robot:vault-')) principals.add(token.subject);
    }
    return [...principals].sort();
  }

  async function writeRole(extra: Record<string, unknown> = {}) {
    await harness.request('create', 'roles/dyn', {
      role_bindings: written.join(','),
      ttl: '10m',
      max_ttl: '1h',
      ...extra,
    });
  }

  async function read(): Promise<Response> {
    const response = await harness.request('read', 'creds/dyn');
    if (response === undefined) throw new Error('creds/dyn answered nothing');
    return response;
  }

  it("gives each read a robot of its own, holding exactly the role's bindings, and revoking one leaves the other", async () => {
    await writeRole();
    expect((await harness.request('read', 'roles/dyn'))?.data).toMatchObject({
      subject: '',
      subject_template: '',
      role_bindings: written,
      robot_name_template: 'vault-{{.RoleName | truncate 24}}-{{unix_time}}-{{random 8}}',
    });

    const first = await read();
    const second = await read();
    const robots = [first, second].map((response) => response.data?.subject as string);
    expect(robots[0]).toMatch(ROBOT_NAME);
    expect(robots[1]).toMatch(ROBOT_NAME);
    expect(robots[0]).not.toBe(robots[1]);
    for (const [index, response] of [first, second].entries()) {
      expect(response.data?.role_bindings).toEqual(written);
      expect(await harness.whoAmI(response.data?.user_token as string)).toBe(robots[index]);
      expect(bindingsOf(robots[index]!)).toEqual(expectedBindings);
    }

    await harness.revokeLease(first);
    expect(bindingsOf(robots[0]!)).toEqual({});
    expect(harness.liveToken(first.data?.user_token as string)).toBeUndefined();
    expect(bindingsOf(robots[1]!)).toEqual(expectedBindings);
    expect(await harness.whoAmI(second.data?.user_token as string)).toBe(robots[1]);

    await harness.revokeLease(second);
    expect(robotsLeft()).toEqual([]);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  describe('once the admin token no longer works at pachd', () => {
    async function readWithDeadAdmin(): Promise<{ response: Response; robot: string; token: string }> {
      const admin = harness.pachd.control.createToken({
        subject: 'robot:engine-admin',
        roles: generation === 1 ? ['SUPER'] : ['clusterAdmin'],
      });
      await harness.request('update', 'config', { admin_token: admin.token });
      await writeRole();
      const response = await read();
      // Expired or revoked at pachd behind the engine's back.
      expect(harness.pachd.control.deleteToken(admin.hash)).toBe(true);
      return { response, robot: response.data?.subject as string, token: response.data?.user_token as string };
    }

    it("revokes the robot's token by its value, names the bindings left, and finishes once the admin token works", async () => {
      const { response, robot, token } = await readWithDeadAdmin();
      const error = await harness.failure('revoke', '', {}, { secret: leaseOf(response) });
      expect(error.code).toBe(502);
      expect(error.message).toMatch(/the admin token no longer works at pachd/);
      expect(error.message).toContain('(its token was revoked)');
      expect(error.message).toContain(`pachctl auth set repo edges none ${robot}`);
      expect(harness.liveToken(token)).toBeUndefined();
      expect(bindingsOf(robot)).toEqual(expectedBindings);
      // Vault retries the revocation; with a working admin token it completes.
      await harness.request('update', 'config', { admin_token: harness.pachd.rootToken });
      await harness.revokeLease(response);
      expect(robotsLeft()).toEqual([]);
    });

    it("the rollback of an interrupted creation revokes the robot's token by value and keeps its entry", async () => {
      const { response, robot, token } = await readWithDeadAdmin();
      await putWal(harness.storage, 'pachd-token', {
        subject: robot,
        generation,
        pachd_address: response.data?.pachd_address,
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        token,
        role_bindings: response.secret?.internalData.role_bindings,
      });
      await harness.rollback({ immediate: true });
      expect(harness.liveToken(token)).toBeUndefined();
      expect(await listWal(harness.storage)).toHaveLength(1);
      await harness.request('update', 'config', { admin_token: harness.pachd.rootToken });
      await harness.rollback({ immediate: true });
      expect(await listWal(harness.storage)).toEqual([]);
      expect(bindingsOf(robot)).toEqual({});
    });
  });

  it('keeps the robot and its bindings on renew', async () => {
    await writeRole();
    const response = await read();
    const robot = response.data?.subject as string;
    const renewed = await harness.request(
      'renew',
      '',
      {},
      { secret: leaseOf(response, new Date(), 20n * 60n * 1_000_000_000n) },
    );
    expect(renewed?.secret?.ttl).toBe(20n * 60n * 1_000_000_000n);
    expect(await harness.whoAmI(response.data?.user_token as string)).toBe(robot);
    expect(bindingsOf(robot)).toEqual(expectedBindings);
    expect(robotsLeft()).toEqual([robot]);
  });

  it('removes the bindings when the lease expires, after pachd has already dropped the token', async () => {
    await writeRole();
    const response = await read();
    const robot = response.data?.subject as string;
    // Past max_ttl: pachd expired the token; Vault's expiration manager now revokes the lease.
    harness.pachd.control.advanceClock(2 * 3600);
    expect(harness.liveToken(response.data?.user_token as string)).toBeUndefined();
    expect(bindingsOf(robot)).toEqual(expectedBindings);
    await harness.revokeLease(response);
    expect(bindingsOf(robot)).toEqual({});
    expect(robotsLeft()).toEqual([]);
  });

  it('counts a binding whose repo was deleted as removed', async () => {
    await writeRole();
    const response = await read();
    expect(harness.pachd.control.deleteRepo(generation === 1 ? undefined : 'default', 'edges')).toBe(true);
    await harness.revokeLease(response);
    expect(robotsLeft()).toEqual([]);
    expect(harness.logLines.join('\n')).not.toContain(response.data?.user_token as string);
  });

  it('takes the robot apart when a grant fails halfway, leaving nothing behind', async () => {
    await writeRole();
    // The role was valid when written; its second repo is gone by the time of the read.
    harness.pachd.control.deleteRepo(generation === 1 ? undefined : 'default', 'edges');
    const error = await harness.failure('read', 'creds/dyn');
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toContain(repo('edges').split('/').pop());
    expect(robotsLeft()).toEqual([]);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('leaves the journal to the rollback when pachd fails during the clean-up too, and the rollback finishes it', async () => {
    await writeRole();
    // The token install fails after the grants, and so does the first removal attempt.
    const install = 'RestoreAuthToken';
    // 1.x revokes by value first (it has no per-user revocation), 2.x per user.
    const removal = generation === 1 ? 'RevokeAuthToken' : 'RevokeAuthTokensForUser';
    harness.pachd.control.injectError({ method: install, code: 14, message: 'injected: pachd went away', count: 1 });
    harness.pachd.control.injectError({ method: removal, code: 14, message: 'injected: pachd went away', count: 1 });
    await harness.failure('read', 'creds/dyn');
    const left = robotsLeft();
    expect(left).toHaveLength(1);
    const ids = await listWal(harness.storage);
    expect(ids).toHaveLength(1);

    await harness.ageWal();
    await harness.rollback();
    expect(robotsLeft()).toEqual([]);
    expect(await listWal(harness.storage)).toEqual([]);
    expect(harness.logLines.join('\n')).toContain('took apart a dynamic robot whose creation was interrupted');
  });

  it('keeps the journal when a grant timed out, so that a grant landing after the clean-up is removed by the rollback', async () => {
    await harness.request('update', 'config', { request_timeout: '1s' });
    await writeRole();
    // The first grant is slow at pachd: its answer is lost, but pachd applies it later, after the
    // request's own clean-up has run.
    const grant = generation === 1 ? 'SetScope' : 'ModifyRoleBinding';
    harness.pachd.control.setLatency(grant, 2500);
    setTimeout(() => harness.pachd.control.setLatency(grant, 0), 400);
    await harness.failure('read', 'creds/dyn');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    // The late grant landed: a binding no lease covers, but the journal still names its robot.
    const [left] = robotsLeft();
    expect(left).toBeDefined();
    const ids = await listWal(harness.storage);
    expect(ids).toHaveLength(1);
    expect((await getWal<{ subject: string }>(harness.storage, ids[0]!))?.data.subject).toBe(left);

    await harness.ageWal();
    await harness.rollback();
    expect(robotsLeft()).toEqual([]);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('says how to finish by hand when the configuration is gone, and finishes once it is back', async () => {
    await writeRole();
    const response = await read();
    const robot = response.data?.subject as string;
    await harness.request('delete', 'config');
    const error = await harness.failure('revoke', '', {}, { secret: leaseOf(response) });
    expect(error.message).toContain('the engine is not configured');
    expect(error.message).toContain(
      generation === 1
        ? `pachctl auth set repo images none ${robot}`
        : `pachctl auth set repo images none ${robot} --project default`,
    );
    expect(error.message).not.toContain(response.data?.user_token as string);
    // Its token revoked itself; the bindings wait for an admin token.
    expect(harness.liveToken(response.data?.user_token as string)).toBeUndefined();
    expect(bindingsOf(robot)).toEqual(expectedBindings);
    await harness.configure();
    await harness.revokeLease(response);
    expect(robotsLeft()).toEqual([]);
  });

  it('refuses to take apart a lease whose data does not describe a robot of its own', async () => {
    await writeRole();
    const response = await read();
    const lease = leaseOf(response);
    for (const tampered of [
      { ...lease.internalData, subject: 'user:alice@example.com' },
      { ...lease.internalData, role_bindings: [] },
      { ...lease.internalData, role_bindings: [{ resource: { type: 'repo' }, roles: ['repoReader'] }] },
    ]) {
      const error = await harness.failure('revoke', '', {}, { secret: { ...lease, internalData: tampered } });
      expect(error.message).toContain('role bindings are unreadable');
    }
    // Nothing was touched at pachd.
    expect(bindingsOf(response.data?.subject as string)).toEqual(expectedBindings);
    expect(await harness.whoAmI(response.data?.user_token as string)).toBe(response.data?.subject);
  });

  it('refuses invalid roles on write with a 400 and stores nothing', async () => {
    const cases: [string, string][] = [
      [
        generation === 1 ? 'repo:images=noSuchRole' : 'repo:default/images=noSuchRole',
        'unknown pachd role "noSuchRole"',
      ],
      ['repo:nosuchrepo=repoReader', 'does not exist'],
      ['cluster=clusterAdmin', 'cannot be given clusterAdmin'],
      ['repo:images=repoReader,subject', 'must read'],
    ];
    if (generation === 2) cases.push(['project:nosuchproject=projectViewer', 'does not exist']);
    for (const [bindings, expected] of cases) {
      const error = await harness.failure('create', 'roles/bad', { role_bindings: bindings });
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toContain(expected);
    }
    if (generation === 2) {
      // pachd 2.x holds subjects of at most 128 characters: with a 64-character display name, too long.
      const long = await harness.failure('create', 'roles/bad', {
        role_bindings: written.join(','),
        robot_name_template: 'vault-{{.DisplayName}}-{{random 64}}',
      });
      expect(long.message).toContain('truncate .DisplayName');
      await harness.request('create', 'roles/fits', {
        role_bindings: written.join(','),
        robot_name_template: 'vault-{{.DisplayName | truncate 40}}-{{random 8}}',
      });
      await harness.request('delete', 'roles/fits');
    }
    const both = await harness.failure('create', 'roles/bad', {
      role_bindings: written.join(','),
      subject: 'robot:ci',
    });
    expect(both.message).toContain('give one of');
    expect((await harness.request('list', 'roles/'))?.data).toEqual({ keys: [] });
  });

  it('refuses a role whose bindings the admin token may not grant', async () => {
    // An admin that may mint tokens but not change bindings on these repos.
    const roles = generation === 1 ? [] : ['robotUser'];
    const weak = harness.pachd.control.createToken({ subject: 'robot:weak-admin', ttlSeconds: 3600, roles });
    if (generation === 1) {
      // 1.x: the admin API decides; a non-admin cannot be the engine's admin at all.
      const error = await harness.failure('update', 'config', { admin_token: weak.token });
      expect(error.type).toBe(ErrorType.InvalidRequest);
      return;
    }
    await harness.request('update', 'config', { admin_token: weak.token });
    const error = await harness.failure('create', 'roles/dyn', { role_bindings: 'repo:default/images=repoReader' });
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toContain('may not change role bindings on repo:default/images');
    expect(error.message).not.toContain(weak.token);
  });
});
