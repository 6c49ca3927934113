import { createHash } from 'node:crypto';
import { ErrorType, READ_ONLY_STORAGE_MESSAGE } from '../../../plugin/sdk/errors';
import type { Response } from '../../../plugin/sdk/logical';
import { getJson, putJson } from '../../../plugin/sdk/storage';
import { ReplicationState } from '../../../plugin/sdk/system-view';
import { listWal } from '../../../plugin/sdk/wal';
import type { StoredStaticRole } from '../../../plugin/pachyderm/roles/static-role';
import { STATIC_ROTATION_WAL, type StaticRotationWal } from '../../../plugin/pachyderm/static-robots/static-rotation';
import { STATIC_TOKEN_MARGIN_SECONDS } from '../../../plugin/pachyderm/static-robots/static-lifetime';
import { makeLocalhostCertificate } from '../../pachd/tls-fixture';
import { EngineHarness } from './engine-harness';

/*
 * Static robots: a fixed pachd robot whose token the engine holds and rotates. The invariant
 * every test ends on: the robot has exactly its current token alive at pachd (plus the one it
 * replaced, inside its grace), and nothing else.
 */

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `done` until it holds; fails once `withinMs` has passed. */
async function waitUntil(done: () => Promise<boolean>, withinMs: number): Promise<void> {
  const until = Date.now() + withinMs;
  while (!(await done())) {
    if (Date.now() > until) throw new Error(`not done within ${withinMs} ms`);
    await sleep(50);
  }
}
const SUBJECT = 'robot:loader';

describe.each([
  { generation: 1 as const, pachdVersion: undefined, issuance: 'restore' },
  { generation: 1 as const, pachdVersion: '1.11.2', issuance: 'pachd-generated' },
  { generation: 2 as const, pachdVersion: undefined, issuance: 'restore' },
])('static robots against pachd $generation.x ($issuance)', ({ generation, pachdVersion }) => {
  let harness: EngineHarness;
  const binding = generation === 1 ? 'repo:images=repoReader' : 'repo:default/images=repoReader';
  const bindingKey = generation === 1 ? 'repo:images' : 'repo:default/images';
  const grantedRole = generation === 1 ? 'READER' : 'repoReader';

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation, ...(pachdVersion === undefined ? {} : { pachdVersion }) });
    await harness.configure();
    harness.pachd.control.createRepo({ name: 'images' });
  });

  afterEach(async () => {
    await harness.stop();
  });

  /** Hashes of the subject's tokens alive at pachd. */
  const liveHashes = (subject = SUBJECT) =>
    harness.pachd.control
      .listTokens()
      .filter((view) => view.subject === subject && !view.expired)
      .map((view) => view.hash)
      .sort();

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

  async function creds(name = 'loader'): Promise<Record<string, unknown>> {
    const response = await harness.request('read', `static-creds/${name}`);
    if (response?.data === undefined) throw new Error('static-creds answered nothing');
    return response.data;
  }

  async function stored(name = 'loader'): Promise<StoredStaticRole> {
    const role = await getJson<StoredStaticRole>(harness.storage, `static-role/${name}`);
    if (role === undefined) throw new Error(`no static role ${name} stored`);
    return role;
  }

  async function patch(name: string, change: (role: StoredStaticRole) => StoredStaticRole): Promise<void> {
    await putJson(harness.storage, `static-role/${name}`, change(await stored(name)));
  }

  async function writeRole(extra: Record<string, unknown> = {}): Promise<Response | undefined> {
    return harness.request('create', 'static-roles/loader', {
      subject: SUBJECT,
      role_bindings: binding,
      rotation_period: '1h',
      ...extra,
    });
  }

  const expectOnlyCurrentAlive = async (extra: string[] = []) => {
    const token = (await creds()).token as string;
    expect(liveHashes()).toEqual([hashOf(token), ...extra.map(hashOf)].sort());
  };

  it('writes a role, grants its bindings, serves its token without a lease, lists and deletes it', async () => {
    await writeRole();
    expect(bindingsOf(SUBJECT)).toEqual({ [bindingKey]: [grantedRole] });
    const read = await harness.request('read', 'static-roles/loader');
    expect(read?.data).toMatchObject({
      subject: SUBJECT,
      role_bindings: [binding],
      rotation_period: 3600,
      rotation_schedule: '',
      rotation_grace: 0,
    });
    expect(JSON.stringify(read?.data)).not.toMatch(/token"/);

    const response = await harness.request('read', 'static-creds/loader');
    expect(response?.secret).toBeUndefined();
    const data = response?.data ?? {};
    expect(data).toMatchObject({ subject: SUBJECT, pachd_address: harness.pachd.pachdAddress, rotation_period: 3600 });
    expect(await harness.whoAmI(data.token as string)).toBe(SUBJECT);
    // consul-template re-reads a lease-less secret with rotation_period after ttl seconds.
    expect(data.ttl).toBeGreaterThan(3590);
    expect(data.ttl).toBeLessThanOrEqual(3600);
    const expiresIn = Date.parse(data.token_expires_at as string) - Date.now();
    expect(expiresIn).toBeGreaterThan((3600 + STATIC_TOKEN_MARGIN_SECONDS - 30) * 1000);
    expect(expiresIn).toBeLessThanOrEqual((3600 + STATIC_TOKEN_MARGIN_SECONDS + 2) * 1000);
    await expectOnlyCurrentAlive();
    expect((await harness.request('list', 'static-roles'))?.data?.keys).toEqual(['loader']);
    expect(await listWal(harness.storage)).toEqual([]);

    await harness.request('delete', 'static-roles/loader');
    expect(liveHashes()).toEqual([]);
    expect(bindingsOf(SUBJECT)).toEqual({});
    expect(await harness.request('read', 'static-creds/loader')).toBeUndefined();
    expect(await listWal(harness.storage)).toEqual([]);
    // The name and the subject can be used again.
    await writeRole();
    await expectOnlyCurrentAlive();
    expect(harness.logLines.join('\n')).not.toContain(data.token as string);
  });

  it('refuses bad input with a 400 and leaves nothing behind', async () => {
    await harness.request('create', 'roles/dyn', {
      role_bindings: binding,
      robot_name_template: 'etl-{{random 8}}',
    });
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ subject: '' }, /needs a subject/],
      [{ subject: 'user:alice@example.com' }, /robot:<name>/],
      [{ subject: 'robot:a:b' }, /colons/],
      [{ subject: 'pach:root' }, /pach: subjects/],
      [{ subject: 'robot:etl-abcdefgh' }, /dynamic robot role dyn/],
      [{ rotation_period: 0 }, /rotation_period .* or rotation_schedule/],
      [{ rotation_period: '30s' }, /at least 60s/],
      [{ rotation_schedule: '0 3 * * *' }, /mutually exclusive/],
      [{ rotation_window: '1h' }, /only with|applies to rotation_schedule/],
      [{ rotation_period: 0, rotation_schedule: '61 * * * *' }, /not a 5-field cron/],
      [{ rotation_grace: '1h' }, /rotation_grace/],
      [{ role_bindings: 'cluster=clusterAdmin' }, /cannot be given clusterAdmin/],
      [{ role_bindings: 'repo:default/images=noSuchRole' }, /unknown pachd role/],
      ...(generation === 1
        ? ([[{ rotation_period: '40d' }, /at most 30 days/]] as Array<[Record<string, unknown>, RegExp]>)
        : []),
    ];
    for (const [extra, message] of cases) {
      const error = await harness.failure('create', 'static-roles/loader', {
        subject: SUBJECT,
        rotation_period: '1h',
        ...extra,
      });
      expect([error.type, error.message]).toEqual([ErrorType.InvalidRequest, expect.stringMatching(message)]);
    }
    expect(liveHashes()).toEqual([]);
    expect(bindingsOf(SUBJECT)).toEqual({});
    expect((await harness.request('list', 'static-roles').catch(() => undefined))?.data?.keys ?? []).toEqual([]);

    await writeRole();
    const again = await harness.failure('create', 'static-roles/other', { subject: SUBJECT, rotation_period: '1h' });
    expect(again.message).toMatch(/already the subject of the static role loader/);
    const changed = await harness.failure('update', 'static-roles/loader', { subject: 'robot:else' });
    expect(changed.message).toMatch(/cannot change/);
    expect(liveHashes()).toHaveLength(1);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it("refuses the admin token's own subject", async () => {
    const admin = harness.pachd.control.createToken({
      subject: 'robot:vault',
      roles: generation === 1 ? ['SUPER'] : ['clusterAdmin'],
    });
    await harness.request('update', 'config', { admin_token: admin.token });
    const error = await harness.failure('create', 'static-roles/admin', {
      subject: 'robot:vault',
      rotation_period: '1h',
    });
    expect(error.message).toMatch(/admin token's subject/);
  });

  it('rotates now: the old token is revoked at once without a grace', async () => {
    await writeRole();
    const before = (await creds()).token as string;
    const rotated = await harness.request('update', 'rotate-role/loader');
    expect(JSON.stringify(rotated?.data)).not.toContain(before);
    const after = (await creds()).token as string;
    expect(after).not.toBe(before);
    expect(await harness.whoAmI(before)).toBeUndefined();
    expect(await harness.whoAmI(after)).toBe(SUBJECT);
    await expectOnlyCurrentAlive();
    expect(await listWal(harness.storage)).toEqual([]);
    const unknown = await harness.failure('update', 'rotate-role/nobody');
    expect(unknown.type).toBe(ErrorType.InvalidRequest);
  });

  it('keeps the replaced token through its grace, and the tick revokes it once the grace ends', async () => {
    await writeRole({ rotation_grace: '10m' });
    const before = (await creds()).token as string;
    await harness.request('update', 'rotate-role/loader');
    const after = (await creds()).token as string;
    // At pachd the token outlives its replacement's time by the grace it will keep, and the margin.
    const ttl = harness.liveToken(after)?.ttlSeconds ?? 0;
    expect(ttl).toBeGreaterThan(3600 + 600 + STATIC_TOKEN_MARGIN_SECONDS - 30);
    expect(ttl).toBeLessThanOrEqual(3600 + 600 + STATIC_TOKEN_MARGIN_SECONDS);
    await harness.rollback();
    expect(await harness.whoAmI(before)).toBe(SUBJECT);
    await expectOnlyCurrentAlive([before]);
    const role = await stored();
    expect(role.retiring?.map((token) => token.token)).toEqual([before]);
    expect(Date.parse(role.retiring?.[0]?.revoke_at ?? '') - Date.now()).toBeGreaterThan(590_000);

    // Time passes: the grace ends, and the next tick revokes the token.
    await patch('loader', (current) => ({
      ...current,
      retiring: (current.retiring ?? []).map((token) => ({
        ...token,
        revoke_at: new Date(Date.now() - 1000).toISOString(),
      })),
    }));
    await harness.rollback();
    expect(await harness.whoAmI(before)).toBeUndefined();
    expect(await harness.whoAmI(after)).toBe(SUBJECT);
    await expectOnlyCurrentAlive();
    expect((await stored()).retiring).toEqual([]);
    // A second rotation inside a grace retires the older token at once: never more than two alive.
    await harness.request('update', 'rotate-role/loader');
    await harness.request('update', 'rotate-role/loader');
    expect(liveHashes()).toHaveLength(2);
  });

  it('revokes the replaced token when its grace ends, without waiting for a tick', async () => {
    await writeRole({ rotation_grace: '1s' });
    const before = (await creds()).token as string;
    await harness.request('update', 'rotate-role/loader');
    expect(await harness.whoAmI(before)).toBe(SUBJECT);
    const graceEnds = Date.parse((await stored()).retiring?.[0]?.revoke_at ?? '');
    // The role lets the token go once pachd has revoked it.
    await waitUntil(async () => (await stored()).retiring?.length === 0, 3000);
    // Not before the grace's end, and well within the minute a tick could be late.
    expect(Date.now()).toBeGreaterThanOrEqual(graceEnds);
    expect(Date.now() - graceEnds).toBeLessThan(2000);
    expect(await harness.whoAmI(before)).toBeUndefined();
    await expectOnlyCurrentAlive();
  });

  it('rotates on its schedule from the rollback tick, and backs off when pachd fails', async () => {
    await writeRole();
    const before = (await creds()).token as string;
    await harness.rollback();
    expect((await creds()).token).toBe(before);

    await patch('loader', (role) => ({
      ...role,
      rotation: { ...role.rotation, next_rotation: new Date(Date.now() - 1000).toISOString() },
    }));
    const overdue = await creds();
    expect(overdue.ttl).toBe(30);
    await harness.rollback();
    const after = await creds();
    expect(after.token).not.toBe(before);
    expect(Date.parse(after.next_rotation as string) - Date.now()).toBeGreaterThan(3590_000);
    expect(await harness.whoAmI(before)).toBeUndefined();
    await expectOnlyCurrentAlive();
    expect(harness.logLines.join('\n')).toMatch(/static robot token rotated/);
    expect(harness.logLines.join('\n')).toMatch(
      /"reason":"scheduled","@message":"automated rotation of a static robot's token done"/,
    );

    const method = pachdVersion === '1.11.2' ? 'GetAuthToken' : 'RestoreAuthToken';
    harness.pachd.control.injectError({ method, code: 14, message: 'pachd is restarting' });
    await patch('loader', (role) => ({
      ...role,
      rotation: { ...role.rotation, next_rotation: new Date(Date.now() - 1000).toISOString() },
    }));
    await harness.rollback();
    const failed = await stored();
    expect(failed.rotation?.failures).toBe(1);
    expect(failed.rotation?.retry_at).toBeDefined();
    expect(failed.current?.token).toBe(after.token);
    expect((await harness.request('read', 'static-roles/loader'))?.data?.last_rotation_error).toMatch(/restarting/);
    harness.pachd.control.clearErrors();
    await patch('loader', (role) => ({
      ...role,
      rotation: { ...role.rotation, retry_at: new Date(Date.now() - 1000).toISOString() },
    }));
    await harness.rollback();
    expect((await stored()).rotation?.failures).toBe(0);
    expect((await creds()).token).not.toBe(after.token);
    expect(harness.logLines.join('\n')).toMatch(
      /"reason":"retry","@message":"automated rotation of a static robot's token done"/,
    );
    await expectOnlyCurrentAlive();
  });

  it('rotates at a tick a moment before its time, counting the next time from the scheduled one', async () => {
    await writeRole();
    const before = (await creds()).token as string;
    const scheduled = new Date(Date.now() + 2000).toISOString();
    await patch('loader', (role) => ({ ...role, rotation: { ...role.rotation, next_rotation: scheduled } }));
    await harness.rollback();
    const after = await creds();
    expect(after.token).not.toBe(before);
    expect(after.next_rotation).toBe(new Date(Date.parse(scheduled) + 3600_000).toISOString());
    await expectOnlyCurrentAlive();
  });

  it('rolls back a rotation interrupted before pachd was asked, and one interrupted before the store', async () => {
    await writeRole();
    const current = await stored();
    const home = {
      pachd_address: current.current?.pachd_address ?? '',
      generation,
      pachd_tls_ca_sha256: current.current?.pachd_tls_ca_sha256 ?? '',
    };
    const expires = new Date(Date.now() + 3600_000).toISOString();
    // Journaled, then the process died before pachd saw the value.
    const neverMade: StaticRotationWal = {
      role: 'loader',
      role_id: current.id,
      subject: SUBJECT,
      ...home,
      expires_at: expires,
      token: 'a'.repeat(32),
    };
    await harness.journalAged(STATIC_ROTATION_WAL, neverMade);
    // Journaled and made at pachd, then the process died before the role named it.
    const made = harness.pachd.control.createToken({ subject: SUBJECT, ttlSeconds: 3600 });
    await harness.journalAged(STATIC_ROTATION_WAL, { ...neverMade, token: made.token });
    // Stored as current, then the process died before dropping the journal entry.
    await harness.journalAged(STATIC_ROTATION_WAL, { ...neverMade, token: current.current?.token });
    expect(liveHashes()).toHaveLength(2);

    await harness.rollback();
    expect(await listWal(harness.storage)).toEqual([]);
    expect(await harness.whoAmI(made.token)).toBeUndefined();
    expect((await creds()).token).toBe(current.current?.token);
    await expectOnlyCurrentAlive();
  });

  it('leaves a failed store to the rollback, which revokes the token the role never named', async () => {
    await writeRole();
    const before = (await creds()).token as string;
    const put = harness.storage.put.bind(harness.storage);
    let failures = 1;
    harness.storage.put = async (entry) => {
      if (entry.key === 'static-role/loader' && failures > 0) {
        failures -= 1;
        throw new Error('storage is sealed');
      }
      return put(entry);
    };
    await expect(harness.request('update', 'rotate-role/loader')).rejects.toThrow(/storage is sealed/);
    expect(liveHashes()).toHaveLength(2);
    expect(await listWal(harness.storage)).toHaveLength(1);
    await harness.ageWal();
    await harness.rollback();
    expect(await listWal(harness.storage)).toEqual([]);
    expect((await creds()).token).toBe(before);
    await expectOnlyCurrentAlive();
  });

  it('finishes a delete pachd interrupted once pachd is back, and serves nothing meanwhile', async () => {
    await writeRole({ rotation_grace: '10m' });
    const first = (await creds()).token as string;
    await harness.request('update', 'rotate-role/loader');
    harness.pachd.control.injectError({ method: 'RevokeAuthToken', code: 14, message: 'pachd is restarting' });
    const error = await harness.failure('delete', 'static-roles/loader');
    expect(error.message).toMatch(/rollback tick finishes the deletion/);
    expect((await harness.failure('read', 'static-creds/loader')).message).toMatch(/being deleted/);
    expect((await harness.failure('update', 'static-roles/loader', { rotation_period: '2h' })).message).toMatch(
      /being deleted/,
    );
    harness.pachd.control.clearErrors();
    await harness.ageWal();
    await harness.rollback();
    expect(liveHashes()).toEqual([]);
    expect(await harness.whoAmI(first)).toBeUndefined();
    expect(bindingsOf(SUBJECT)).toEqual({});
    expect(await harness.request('read', 'static-roles/loader')).toBeUndefined();
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('changes bindings on update, and a schedule change rotates at once', async () => {
    harness.pachd.control.createRepo({ name: 'edges' });
    await writeRole();
    const before = (await creds()).token as string;
    const edges = generation === 1 ? 'repo:edges=repoWriter' : 'repo:default/edges=repoWriter';
    await harness.request('update', 'static-roles/loader', { role_bindings: edges });
    expect(bindingsOf(SUBJECT)).toEqual({
      [generation === 1 ? 'repo:edges' : 'repo:default/edges']: [generation === 1 ? 'WRITER' : 'repoWriter'],
    });
    expect((await creds()).token).toBe(before);
    await harness.request('update', 'static-roles/loader', { rotation_schedule: '0 3 * * *' });
    const after = await creds();
    expect(after.token).not.toBe(before);
    expect(after).toMatchObject({ rotation_period: 0, rotation_schedule: '0 3 * * *' });
    await expectOnlyCurrentAlive();
  });

  it('grants the bindings of an update whose grant failed at the next tick, and never removes a binding the role holds', async () => {
    harness.pachd.control.createRepo({ name: 'edges' });
    await writeRole();
    const edges = generation === 1 ? 'repo:edges=repoWriter' : 'repo:default/edges=repoWriter';
    const edgesHeld = {
      [generation === 1 ? 'repo:edges' : 'repo:default/edges']: [generation === 1 ? 'WRITER' : 'repoWriter'],
    };
    // 1.x: the check that pachd takes the bindings (SetScope on a subject nobody is) fails first,
    // and nothing is stored; 2.x checks with GetPermissions, and the grant itself fails.
    const grant = generation === 1 ? 'SetScope' : 'ModifyRoleBinding';
    harness.pachd.control.injectError({ method: grant, code: 14, message: 'pachd is restarting', count: 1 });
    const error = await harness.failure('update', 'static-roles/loader', { role_bindings: edges });
    expect(error.message).toMatch(/restarting/);
    harness.pachd.control.clearErrors();
    if (generation === 1) {
      expect((await stored()).grant_pending).toBeUndefined();
      expect(bindingsOf(SUBJECT)).toEqual({ [bindingKey]: [grantedRole] });
      await harness.request('update', 'static-roles/loader', { role_bindings: edges });
    } else {
      expect((await stored()).grant_pending).toBe(true);
    }
    await harness.rollback();
    // The role says edges: the robot holds edges, and what the update dropped is gone.
    expect(bindingsOf(SUBJECT)).toEqual(edgesHeld);
    expect((await stored()).grant_pending).toBeUndefined();

    // A repo pachd does not have is refused before anything is stored.
    const missing = await harness.failure('update', 'static-roles/loader', {
      role_bindings: generation === 1 ? 'repo:nosuch=repoReader' : 'repo:default/nosuch=repoReader',
      rotation_period: '2h',
    });
    expect(missing.type).toBe(ErrorType.InvalidRequest);
    expect(missing.message).toMatch(/nosuch does not exist/);
    expect((await stored()).rotation_period_seconds).toBe(3600);
    expect(bindingsOf(SUBJECT)).toEqual(edgesHeld);

    // A binding dropped, its removal left to the tick, and bound again before the tick runs: the
    // update takes it off the list of what to remove, and the tick removes only what the role
    // no longer binds.
    await harness.request('update', 'static-roles/loader', { role_bindings: binding });
    await patch('loader', (role) => ({ ...role, stale_bindings: [...role.role_bindings] }));
    await harness.request('update', 'static-roles/loader', { role_bindings: `${binding},${edges}` });
    expect((await stored()).stale_bindings ?? []).toEqual([]);
    await patch('loader', (role) => ({ ...role, stale_bindings: [...role.role_bindings] }));
    await harness.rollback();
    expect(bindingsOf(SUBJECT)).toEqual({ ...edgesHeld, [bindingKey]: [grantedRole] });
    expect((await stored()).stale_bindings ?? []).toEqual([]);
    await expectOnlyCurrentAlive();
  });

  it('does not rotate on a node that may not write the mount, and does on the active node', async () => {
    await writeRole();
    const before = (await creds()).token as string;
    const due = () =>
      patch('loader', (role) => ({
        ...role,
        rotation: { ...role.rotation, next_rotation: new Date(Date.now() - 1000).toISOString() },
      }));
    for (const state of [
      ReplicationState.performanceStandby,
      ReplicationState.drSecondary,
      ReplicationState.performanceSecondary,
    ]) {
      harness.system.replicationStateValue = state;
      await due();
      await harness.rollback();
      expect((await creds()).token).toBe(before);
    }
    harness.system.replicationStateValue = ReplicationState.performancePrimary;
    await harness.rollback();
    expect((await creds()).token).not.toBe(before);
    await expectOnlyCurrentAlive();
  });

  it('refuses rotate-role, rotate-root and static-role writes on a node that cannot store them, before pachd sees anything', async () => {
    await writeRole();
    const before = (await creds()).token as string;
    const role = await stored();
    const history = () => harness.pachd.control.tokenHistory().length;
    const made = history();
    // As a real node's storage: a performance standby writes nothing; a performance secondary
    // writes only the mount's local paths (the WAL, the CA copies), not the replicated roles.
    const put = harness.storage.put.bind(harness.storage);
    const remove = harness.storage.delete.bind(harness.storage);
    const writable = (key: string) =>
      harness.system.replicationStateValue === ReplicationState.performanceSecondary &&
      (key.startsWith('wal/') || key.startsWith('tls-ca/'));
    harness.storage.put = async (entry) => {
      if (!writable(entry.key)) throw new Error(READ_ONLY_STORAGE_MESSAGE);
      return put(entry);
    };
    harness.storage.delete = async (key) => {
      if (!writable(key)) throw new Error(READ_ONLY_STORAGE_MESSAGE);
      return remove(key);
    };
    for (const state of [ReplicationState.performanceStandby, ReplicationState.performanceSecondary]) {
      harness.system.replicationStateValue = state;
      const refused = [
        await harness.failure('update', 'rotate-role/loader'),
        await harness.failure('update', 'config/rotate-root'),
        await harness.failure('create', 'static-roles/other', { subject: 'robot:other', rotation_period: '1h' }),
        await harness.failure('update', 'static-roles/loader', { rotation_period: '2h' }),
        await harness.failure('delete', 'static-roles/loader'),
      ];
      // Untyped, with logical.ErrReadOnly's text: what makes Vault forward the request.
      for (const error of refused)
        expect([error.type, error.message]).toEqual([ErrorType.Unknown, READ_ONLY_STORAGE_MESSAGE]);
      expect(history()).toBe(made);
      expect(await listWal(harness.storage)).toEqual([]);
      expect(await stored()).toEqual(role);
      expect(bindingsOf('robot:other')).toEqual({});
      await expectOnlyCurrentAlive();
      expect(await harness.whoAmI(harness.pachd.rootToken)).toBeDefined();
    }
    // A performance secondary's local mount is its own: it rotates there.
    harness.storage.put = put;
    harness.storage.delete = remove;
    harness.system.localMountValue = true;
    await harness.request('update', 'rotate-role/loader');
    expect((await creds()).token).not.toBe(before);
    await expectOnlyCurrentAlive();
  });

  it('keeps a schedule change whose rotation failed, and the tick retries it', async () => {
    await writeRole();
    const before = (await creds()).token as string;
    const method = pachdVersion === '1.11.2' ? 'GetAuthToken' : 'RestoreAuthToken';
    harness.pachd.control.injectError({ method, code: 14, message: 'pachd is restarting' });
    const error = await harness.failure('update', 'static-roles/loader', { rotation_period: '2h' });
    expect(error.message).toMatch(/restarting/);
    const role = await stored();
    expect([role.rotation_period_seconds, role.rotation?.failures]).toEqual([7200, 1]);
    expect((await creds()).token).toBe(before);
    harness.pachd.control.clearErrors();
    await patch('loader', (current) => ({
      ...current,
      rotation: { ...current.rotation, retry_at: new Date(Date.now() - 1000).toISOString() },
    }));
    await harness.rollback();
    const after = await creds();
    expect(after.token).not.toBe(before);
    expect(Date.parse(after.next_rotation as string) - Date.now()).toBeGreaterThan(7190_000);
    await expectOnlyCurrentAlive();
  });

  it('revokes a replaced token whose grace ended even after the configuration was deleted', async () => {
    await writeRole({ rotation_grace: '5m' });
    const before = (await creds()).token as string;
    await harness.request('update', 'rotate-role/loader');
    await harness.request('delete', 'config');
    await patch('loader', (role) => ({
      ...role,
      retiring: (role.retiring ?? []).map((token) => ({ ...token, revoke_at: new Date(0).toISOString() })),
    }));
    await harness.rollback();
    expect(await harness.whoAmI(before)).toBeUndefined();
    expect((await stored()).retiring).toEqual([]);
  });

  it('never writes a static token to a log line', async () => {
    await writeRole({ rotation_grace: '5m' });
    const tokens = [(await creds()).token as string];
    await harness.request('update', 'rotate-role/loader');
    tokens.push((await creds()).token as string);
    await patch('loader', (role) => ({
      ...role,
      retiring: (role.retiring ?? []).map((token) => ({ ...token, revoke_at: new Date(0).toISOString() })),
    }));
    await harness.rollback();
    await harness.request('delete', 'static-roles/loader');
    const logs = harness.logLines.join('\n');
    for (const token of tokens) expect(logs).not.toContain(token);
    // A line that did carry one under the answer's name would show it redacted.
    expect(harness.backend.config.redactor.isSecretFieldName('token')).toBe(true);
    expect(logs).toMatch(/static robot token rotated/);
  });
});

describe('static robots and other roles', () => {
  it('a dynamic robot role whose names could be a static robot is refused, and so is a fixed role on it', async () => {
    const harness = await EngineHarness.start({ generation: 2 });
    try {
      await harness.configure();
      harness.pachd.control.createRepo({ name: 'images' });
      await harness.request('create', 'static-roles/loader', { subject: 'robot:etl-loader01', rotation_period: '1h' });
      const dynamic = await harness.failure('create', 'roles/dyn', {
        role_bindings: 'repo:default/images=repoReader',
        robot_name_template: 'etl-{{random 8}}',
      });
      expect(dynamic.message).toMatch(/static role loader/);
      const fixed = await harness.failure('create', 'roles/fixed', { subject: 'robot:etl-loader01' });
      expect(fixed.message).toMatch(/static role loader/);
    } finally {
      await harness.stop();
    }
  });
});

describe('static robots and other roles written at the same time', () => {
  it.each([
    [
      'a dynamic robot role that could name it',
      { role_bindings: 'repo:default/images=repoReader', robot_name_template: 'etl-{{random 8}}' },
    ],
    ['a fixed role on its subject', { subject: 'robot:etl-loader01' }],
  ])('one of a static role and %s is refused, whichever lands first', async (_what, role) => {
    const harness = await EngineHarness.start({ generation: 2 });
    try {
      await harness.configure();
      harness.pachd.control.createRepo({ name: 'images' });
      const outcomes = await Promise.allSettled([
        harness.request('create', 'roles/dyn', role),
        harness.request('create', 'static-roles/loader', { subject: 'robot:etl-loader01', rotation_period: '1h' }),
      ]);
      expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    } finally {
      await harness.stop();
    }
  });
});

describe('static robots where pachd picks the value (2.x admin with robotUser only)', () => {
  it('makes, rotates and deletes tokens with GetRobotToken, and says what an interrupted rotation may leave', async () => {
    const harness = await EngineHarness.start({ generation: 2 });
    try {
      const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['robotUser'] });
      await harness.configure({ admin_token: admin.token });
      await harness.request('create', 'static-roles/loader', { subject: SUBJECT, rotation_period: '1h' });
      const first = (await harness.request('read', 'static-creds/loader'))?.data?.token as string;
      expect(await harness.whoAmI(first)).toBe(SUBJECT);
      await harness.request('update', 'rotate-role/loader');
      const second = (await harness.request('read', 'static-creds/loader'))?.data?.token as string;
      expect(await harness.whoAmI(first)).toBeUndefined();
      expect(await harness.whoAmI(second)).toBe(SUBJECT);
      expect(harness.pachd.control.listTokens().filter((view) => view.subject === SUBJECT && !view.expired)).toEqual([
        expect.objectContaining({ hash: hashOf(second) }),
      ]);

      const role = await getJson<StoredStaticRole>(harness.storage, 'static-role/loader');
      await harness.journalAged(STATIC_ROTATION_WAL, {
        role: 'loader',
        role_id: role?.id,
        subject: SUBJECT,
        pachd_address: role?.current?.pachd_address,
        generation: 2,
        pachd_tls_ca_sha256: '',
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
      });
      await harness.rollback();
      expect(await listWal(harness.storage)).toEqual([]);
      expect(harness.logLines.join('\n')).toMatch(/interrupted before pachd answered, and pachd picks token values/);
      expect(await harness.whoAmI(second)).toBe(SUBJECT);

      await harness.request('delete', 'static-roles/loader');
      expect(await harness.whoAmI(second)).toBeUndefined();
    } finally {
      await harness.stop();
    }
  });
});

describe("static robots' grace timers", () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  const token = async () => (await harness.request('read', 'static-creds/loader'))?.data?.token as string;

  it('a timer and a tick at the grace end revoke the token once, with no error', async () => {
    await harness.request('create', 'static-roles/loader', {
      subject: SUBJECT,
      rotation_period: '1h',
      rotation_grace: '1s',
    });
    const before = await token();
    await harness.request('update', 'rotate-role/loader');
    const revoke_at = (await getJson<StoredStaticRole>(harness.storage, 'static-role/loader'))?.retiring?.[0]
      ?.revoke_at;
    await sleep(Math.max(0, Date.parse(revoke_at ?? '') - Date.now()));
    await Promise.all([harness.rollback(), harness.rollback({ immediate: true }), sleep(300)]);
    expect(await harness.whoAmI(before)).toBeUndefined();
    const logs = harness.logLines.join('\n');
    expect(logs.match(/revoked a static robot's replaced token/g)).toHaveLength(1);
    expect(logs).not.toMatch(/could not revoke|grace timer failed/);
  });

  it('fires nothing on a node that may no longer rotate, nor once the mount is cleaned up; the tick is the guarantee', async () => {
    await harness.request('create', 'static-roles/loader', {
      subject: SUBJECT,
      rotation_period: '1h',
      rotation_grace: '1s',
    });
    const first = await token();
    await harness.request('update', 'rotate-role/loader');
    harness.system.replicationStateValue = ReplicationState.performanceStandby;
    await sleep(1500);
    expect(await harness.whoAmI(first)).toBe(SUBJECT);
    harness.system.replicationStateValue = 0;
    await harness.rollback();
    expect(await harness.whoAmI(first)).toBeUndefined();

    const second = await token();
    await harness.request('update', 'rotate-role/loader');
    await harness.backend.cleanup();
    await sleep(1500);
    expect(await harness.whoAmI(second)).toBe(SUBJECT);
    await harness.rollback();
    expect(await harness.whoAmI(second)).toBeUndefined();
  });
});

describe('static-creds on a performance secondary, for a private-CA pachd', () => {
  it("answers the configuration's CA certificates, whose copy under tls-ca/ stayed on the primary", async () => {
    const tls = makeLocalhostCertificate();
    const primary = await EngineHarness.start({
      generation: 2,
      listen: '127.0.0.1:0',
      tls: { certPem: tls.certPem, keyPem: tls.keyPem },
    });
    const secondary = EngineHarness.beside(primary);
    try {
      const address = `grpcs://localhost:${primary.pachd.address.split(':').pop() ?? ''}`;
      await primary.configure({ pachd_address: address, pachd_tls_ca: tls.certPem.toString() });
      await primary.request('create', 'static-roles/loader', { subject: SUBJECT, rotation_period: '1h' });
      const onPrimary = (await primary.request('read', 'static-creds/loader'))?.data;
      const ca = onPrimary?.pachd_tls_ca as string;
      expect(ca.trim()).toBe(tls.certPem.toString().trim());
      // What replication gives the secondary: everything but the mount's local paths.
      for (const [key, entry] of primary.storage.entries) {
        if (!key.startsWith('wal/') && !key.startsWith('tls-ca/')) await secondary.storage.put(entry);
      }
      secondary.system.replicationStateValue = ReplicationState.performanceSecondary;
      const read = await secondary.request('read', 'static-creds/loader');
      expect(read?.data).toMatchObject({ token: onPrimary?.token, pachd_tls_ca: ca });
      expect(read?.warnings).toBeUndefined();

      // A configuration with other certificates since: no CA to give, and the answer says why.
      const config = await getJson<Record<string, unknown>>(secondary.storage, 'config');
      await putJson(secondary.storage, 'config', { ...config, pachd_tls_ca: 'other' });
      secondary.backend.invalidate('config');
      const stale = await secondary.request('read', 'static-creds/loader');
      expect(stale?.data?.pachd_tls_ca).toBe('');
      expect(stale?.warnings).toEqual([expect.stringMatching(/not stored on this cluster/)]);
    } finally {
      await secondary.stop();
      await primary.stop();
      tls.remove();
    }
  });
});
