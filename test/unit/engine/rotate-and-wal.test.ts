import { ErrorType } from '../../../plugin/sdk/errors';
import { ADMIN_ROTATION_WAL, type AdminRotationWal } from '../../../plugin/pachyderm/admin/admin-rotation';
import { ISSUANCE_WAL, type IssuanceWal } from '../../../plugin/pachyderm/issuance/issuance-journal';
import { listWal, putWal } from '../../../plugin/sdk/wal';
import { generatePachdToken, hashPachdToken } from '../../../plugin/pachyderm/pachd/token-material';
import { EngineHarness } from './engine-harness';

describe('rotate-root', () => {
  let harness: EngineHarness;

  afterEach(async () => {
    await harness.stop();
  });

  it('1.x: mints a new admin token for a dedicated admin and revokes the old one', async () => {
    harness = await EngineHarness.start({ generation: 1 });
    const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['SUPER'] });
    await harness.configure({ admin_token: admin.token });
    const response = await harness.request('update', 'config/rotate-root');
    expect(response?.data).toMatchObject({ admin_subject: 'robot:vault', admin_token_expires_at: null });
    expect(response?.warnings).toBeUndefined();
    expect(await harness.whoAmI(admin.token)).toBeUndefined();
    const config = await harness.request('read', 'config');
    expect(config?.data?.admin_token_fingerprint).toBe(response?.data?.admin_token_fingerprint);
    expect(config?.data?.admin_token_fingerprint).not.toBe(`sha256:${admin.hash.slice(0, 16)}`);
    // The new admin token works: it can issue.
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
    expect(await listWal(harness.storage)).toEqual([]);
    expect(JSON.stringify([...harness.transcript, ...harness.logLines])).not.toContain(admin.token);
  });

  it('1.x before 1.11.9: explains why pach:root cannot be rotated', async () => {
    harness = await EngineHarness.start({ generation: 1, pachdVersion: '1.11.2' });
    await harness.configure();
    const error = await harness.failure('update', 'config/rotate-root');
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.message).toMatch(/cannot issue tokens for pach:root/);
    expect(await harness.whoAmI(harness.pachd.rootToken)).toBe('pach:root');
  });

  it('1.x from 1.11.9: rotates pach:root too, installing a value journaled first', async () => {
    harness = await EngineHarness.start({ generation: 1 });
    const oldRoot = harness.pachd.rootToken;
    await harness.configure();
    const response = await harness.request('update', 'config/rotate-root');
    expect(response?.data).toMatchObject({
      admin_subject: 'pach:root',
      rotation_method: 'restore',
      admin_token_expires_at: null,
    });
    expect(await harness.whoAmI(oldRoot)).toBeUndefined();
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
  });

  it('2.x: rotates the root token with RotateRootToken; the old one stops working', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    const oldRoot = harness.pachd.rootToken;
    await harness.configure();
    const response = await harness.request('update', 'config/rotate-root');
    expect(response?.data?.admin_subject).toBe('pach:root');
    expect(await harness.whoAmI(oldRoot)).toBeUndefined();
    expect(harness.pachd.rootToken).not.toBe(oldRoot);
    expect(response?.data?.admin_token_fingerprint).toBe(
      `sha256:${hashPachdToken(harness.pachd.rootToken).slice(0, 16)}`,
    );
    const issued = await harness.request('update', 'login', { username: 'user:alice@example.com' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('user:alice@example.com');
  });

  it('2.x: ignores a ttl for pach:root (its tokens never expire) and never revokes the new root token', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
    const response = await harness.request('update', 'config/rotate-root', { ttl: '720h' });
    expect(response?.warnings?.join(' ')).toMatch(/ttl is ignored/);
    expect(response?.data).toMatchObject({
      admin_subject: 'pach:root',
      rotation_method: 'rotate-root',
      admin_token_expires_at: null,
    });
    expect(await harness.whoAmI(harness.pachd.rootToken)).toBe('pach:root');
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
  });

  it('2.x: rotates a clusterAdmin robot with RestoreAuthToken and revokes the old token', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    const admin = harness.pachd.control.createToken({
      subject: 'robot:vault',
      roles: ['clusterAdmin'],
      ttlSeconds: 3600,
    });
    await harness.configure({ admin_token: admin.token });
    const response = await harness.request('update', 'config/rotate-root', { ttl: '2h' });
    expect(response?.data).toMatchObject({ admin_subject: 'robot:vault', rotation_method: 'restore' });
    expect(Date.parse(response?.data?.admin_token_expires_at as string) - Date.now()).toBeGreaterThan(7000_000);
    expect(await harness.whoAmI(admin.token)).toBeUndefined();
  });
});

describe('WAL rollback', () => {
  let harness: EngineHarness;

  afterEach(async () => {
    await harness.stop();
  });

  it('keeps an entry of a kind it does not know (a newer release wrote it), and says so', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
    await harness.journalAged('from-a-newer-release', { anything: true });
    await harness.rollback();
    await harness.rollback({ immediate: true });
    expect(await listWal(harness.storage)).toHaveLength(1);
    expect(harness.logLines.join('\n')).toMatch(/unknown kind \\"from-a-newer-release\\" kept/);
  });

  it('revokes a token whose issuance was interrupted after the mint', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
    // What a plugin killed between RestoreAuthToken and the lease leaves behind.
    const token = generatePachdToken();
    harness.pachd.control.createToken({ subject: 'user:alice@example.com', token, ttlSeconds: 3600 });
    const pending: IssuanceWal = {
      subject: 'user:alice@example.com',
      generation: 2,
      pachd_address: harness.pachd.pachdAddress,
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      token,
    };
    await harness.journalAged(ISSUANCE_WAL, pending);
    await putWal(harness.storage, ISSUANCE_WAL, { ...pending, token: generatePachdToken() }, Date.now());

    await harness.rollback();
    expect(await harness.whoAmI(token)).toBeUndefined();
    // The young entry belongs to a request still in flight: left alone.
    expect(await listWal(harness.storage)).toHaveLength(1);
  });

  it('keeps an entry while pachd is down and finishes once it is back', async () => {
    harness = await EngineHarness.start({ generation: 1 });
    await harness.configure();
    const issued = harness.pachd.control.createToken({ subject: 'robot:ci', ttlSeconds: 3600 });
    await harness.journalAged(ISSUANCE_WAL, {
      subject: 'robot:ci',
      generation: 1,
      pachd_address: harness.pachd.pachdAddress,
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
      token: issued.token,
    } satisfies IssuanceWal);
    await harness.pachd.control.makeUnavailable();
    await harness.rollback();
    expect(await listWal(harness.storage)).toHaveLength(1);
    await harness.pachd.control.makeAvailable();
    await harness.rollback();
    expect(await listWal(harness.storage)).toHaveLength(0);
    expect(harness.liveToken(issued.token)).toBeUndefined();
  });

  it('stores the new admin token of a rotation interrupted after pachd rotated root', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
    const oldRoot = harness.pachd.rootToken;
    const newRoot = generatePachdToken();
    // pachd rotated (old root gone), but the plugin died before storing the new token.
    harness.pachd.control.createToken({ subject: 'pach:root', token: newRoot });
    harness.pachd.control.deleteToken(hashPachdToken(oldRoot));
    const journal: AdminRotationWal = {
      stage: 'minting',
      subject: 'pach:root',
      generation: 2,
      pachd_address: harness.pachd.pachdAddress,
      old_token: oldRoot,
      new_token: newRoot,
    };
    await harness.journalAged(ADMIN_ROTATION_WAL, journal);
    await harness.rollback();
    expect((await harness.request('read', 'config'))?.data?.admin_token_fingerprint).toBe(
      `sha256:${hashPachdToken(newRoot).slice(0, 16)}`,
    );
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('revokes the new token of a rotation interrupted while the old one still works', async () => {
    harness = await EngineHarness.start({ generation: 1 });
    const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['SUPER'] });
    await harness.configure({ admin_token: admin.token });
    const minted = harness.pachd.control.createToken({ subject: 'robot:vault' });
    await harness.journalAged(ADMIN_ROTATION_WAL, {
      stage: 'minting',
      subject: 'robot:vault',
      generation: 1,
      pachd_address: harness.pachd.pachdAddress,
      old_token: admin.token,
      new_token: minted.token,
    } satisfies AdminRotationWal);
    await harness.rollback();
    expect(await harness.whoAmI(minted.token)).toBeUndefined();
    expect(await harness.whoAmI(admin.token)).toBe('robot:vault');
  });
});

describe('rotations that did not finish', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
  });

  afterEach(async () => {
    await harness.stop();
  });

  /** What a robot:vault rotation left in the WAL when the process died, old enough to roll back. */
  const journalRotation = (stage: AdminRotationWal['stage'], oldToken: string, newToken: string) =>
    harness.journalAged(ADMIN_ROTATION_WAL, {
      stage,
      subject: 'robot:vault',
      generation: 2,
      pachd_address: harness.pachd.pachdAddress,
      old_token: oldToken,
      new_token: newToken,
    } satisfies AdminRotationWal);

  it('finishes one stuck revoking the old token after its new token was revoked meanwhile, and stops', async () => {
    const oldAdmin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['clusterAdmin'] });
    const newAdmin = harness.pachd.control.createToken({ subject: 'robot:vault' });
    await harness.configure({ admin_token: newAdmin.token });
    harness.pachd.control.deleteToken(newAdmin.hash);
    await journalRotation('revoking-old', oldAdmin.token, newAdmin.token);
    await harness.rollback();
    expect(await harness.whoAmI(oldAdmin.token)).toBeUndefined();
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('revokes the old token of a rotation the configuration has since moved past (a later rotation)', async () => {
    const first = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['clusterAdmin'] });
    const second = harness.pachd.control.createToken({ subject: 'robot:vault' });
    const third = harness.pachd.control.createToken({ subject: 'robot:vault' });
    // first → second stored, then a crash before first was revoked; a later rotation second → third.
    await harness.configure({ admin_token: third.token });
    harness.pachd.control.deleteToken(second.hash);
    await journalRotation('revoking-old', first.token, second.token);
    await harness.rollback();
    expect(await harness.whoAmI(first.token)).toBeUndefined();
    expect(await harness.whoAmI(third.token)).toBe('robot:vault');
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('keeps the old token and revokes the new one when the crash came before the configuration switched', async () => {
    const oldAdmin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['clusterAdmin'] });
    await harness.configure({ admin_token: oldAdmin.token });
    const newAdmin = harness.pachd.control.createToken({ subject: 'robot:vault' });
    await journalRotation('revoking-old', oldAdmin.token, newAdmin.token);
    await harness.rollback();
    expect(await harness.whoAmI(oldAdmin.token)).toBe('robot:vault');
    expect(await harness.whoAmI(newAdmin.token)).toBeUndefined();
  });

  it('revokes the working new token of a rotation whose configuration was deleted', async () => {
    const oldAdmin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['clusterAdmin'] });
    await harness.configure({ admin_token: oldAdmin.token });
    const newAdmin = harness.pachd.control.createToken({ subject: 'robot:vault' });
    for (const stage of ['minting', 'revoking-old'] as const) {
      await journalRotation(stage, oldAdmin.token, newAdmin.token);
    }
    await harness.request('delete', 'config');
    await harness.rollback();
    expect(await harness.whoAmI(newAdmin.token)).toBeUndefined();
    // The old token was the operator's; only the rotation that had got to revoking it revokes it.
    expect(await harness.whoAmI(oldAdmin.token)).toBeUndefined();
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it("leaves the operator's token alone when a rotation that never stored its new token finds no configuration", async () => {
    const oldAdmin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['clusterAdmin'] });
    await harness.configure({ admin_token: oldAdmin.token });
    const newAdmin = harness.pachd.control.createToken({ subject: 'robot:vault' });
    await journalRotation('minting', oldAdmin.token, newAdmin.token);
    await harness.request('delete', 'config');
    await harness.rollback();
    expect(await harness.whoAmI(newAdmin.token)).toBeUndefined();
    expect(await harness.whoAmI(oldAdmin.token)).toBe('robot:vault');
  });

  it('never sends pachd "no expiry" for ttl=0: an expiring robot admin is replaced by one expiring in 30 days', async () => {
    const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['robotUser'], ttlSeconds: 3600 });
    await harness.configure({ admin_token: admin.token });
    const response = await harness.request('update', 'config/rotate-root', { ttl: 0 });
    expect(response?.data?.rotation_method).toBe('pachd-generated');
    const expiresAt = Date.parse(response?.data?.admin_token_expires_at as string);
    expect(expiresAt - Date.now()).toBeGreaterThan(29 * 24 * 3600_000);
    const atPachd = harness.pachd.control
      .listTokens()
      .filter((view) => view.subject === 'robot:vault' && !view.expired);
    expect(atPachd).toHaveLength(1);
    expect(atPachd[0]?.expiresAt).not.toBeNull();
    expect(Math.abs(Date.parse(atPachd[0]?.expiresAt ?? '') - expiresAt)).toBeLessThan(2000);
  });
});

describe('rotations, as a bad day would have them', () => {
  let harness: EngineHarness;

  afterEach(async () => {
    await harness.stop();
  });

  it('2.x pach:root: stores the new root token before anything else can fail', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
    const put = harness.storage.put.bind(harness.storage);
    let walWrites = 0;
    harness.storage.put = async (entry) => {
      // The journal's first write goes through; the next one (after RotateRootToken) fails.
      if (entry.key.startsWith('wal/') && ++walWrites === 2) throw new Error('storage is read-only');
      return put(entry);
    };
    await expect(harness.request('update', 'config/rotate-root')).rejects.toThrow('storage is read-only');
    harness.storage.put = put;
    expect(await harness.whoAmI(harness.pachd.rootToken)).toBe('pach:root');
    const config = (await harness.request('read', 'config'))?.data;
    expect(config?.admin_token_fingerprint).toBe(`sha256:${hashPachdToken(harness.pachd.rootToken).slice(0, 16)}`);
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
  });

  it('gives a generated admin token an expiry even when the old one had none, and says so', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['robotUser'] });
    await harness.configure({ admin_token: admin.token });
    const response = await harness.request('update', 'config/rotate-root');
    expect(response?.data?.rotation_method).toBe('pachd-generated');
    expect(response?.warnings?.join(' ')).toMatch(/expires in 30 days although the old one never did/);
    const live = harness.pachd.control.listTokens().filter((view) => view.subject === 'robot:vault' && !view.expired);
    expect(live).toHaveLength(1);
    expect(live[0]?.expiresAt).not.toBeNull();
  });

  it('refuses an admin token lifetime under ten minutes', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    const admin = harness.pachd.control.createToken({
      subject: 'robot:vault',
      roles: ['clusterAdmin'],
      ttlSeconds: 3600,
    });
    await harness.configure({ admin_token: admin.token });
    expect((await harness.failure('update', 'config/rotate-root', { ttl: '1s' })).message).toMatch(
      /at least 10 minutes/,
    );
    expect(await harness.whoAmI(admin.token)).toBe('robot:vault');
  });
});
