import { createHash } from 'node:crypto';
import {
  decideInterruptedRotation,
  nextQuestion,
  type InterruptedRotationFacts,
} from '../../../plugin/pachyderm/admin/interrupted-rotation';
import { ADMIN_ROTATION_WAL, type AdminRotationWal } from '../../../plugin/pachyderm/admin/admin-rotation';
import type { EngineConfig } from '../../../plugin/pachyderm/mount/config';
import { generatePachdToken } from '../../../plugin/pachyderm/pachd/token-material';
import { getJson, putJson } from '../../../plugin/sdk/storage';
import { listWal, putWal } from '../../../plugin/sdk/wal';
import { EngineHarness } from './engine-harness';

/**
 * Interrupted admin token rotations, settled at the next tick from pachd's word, or left waiting
 * while their minting call may still land, with no rotation beside them.
 */
const base: InterruptedRotationFacts = {
  holds: 'old',
  newJournaled: true,
  stage: 'minting',
  subject: 'robot:vault',
  mayStillLand: true,
};

describe('what becomes of an interrupted rotation', () => {
  it.each<[string, Partial<InterruptedRotationFacts>, string]>([
    ['pachd picked the value and never answered', { newJournaled: false }, 'forget'],
    ['the configuration holds the new token', { holds: 'new' }, 'finish'],
    ['the call may still land and has not', { newWorks: false }, 'wait'],
    ['the call can no longer land and did not', { newWorks: false, mayStillLand: false }, 'forget'],
    ['both tokens work (a restore landed)', { newWorks: true, oldWorks: true }, 'undo'],
    ['the new one works and the old one not (RotateRootToken)', { newWorks: true, oldWorks: false }, 'adopt'],
    ['the old one still works, whatever the age', { newWorks: true, oldWorks: true, mayStillLand: false }, 'undo'],
    ['neither held, a robot token', { holds: 'neither', newWorks: true }, 'revoke-orphan'],
    ['neither held, still landing', { holds: 'neither', newWorks: false }, 'wait'],
    [
      'neither held, a root token while the old root token works',
      { holds: 'neither', subject: 'pach:root', newWorks: true, oldWorks: true },
      'revoke-orphan',
    ],
    [
      'neither held, a root token while the configuration holds another working root token',
      { holds: 'neither', subject: 'pach:root', newWorks: true, oldWorks: false, configuredRootWorks: true },
      'revoke-orphan',
    ],
    [
      "neither held, a root token that may be pachd's only one",
      { holds: 'neither', subject: 'pach:root', newWorks: true, oldWorks: false, configuredRootWorks: false },
      'keep-root-orphan',
    ],
  ])('%s: %s', (_name, facts, step) => {
    expect(decideInterruptedRotation({ ...base, ...facts })).toBe(step);
  });

  it('asks pachd only what the decision needs, and refuses to decide without it', () => {
    expect(nextQuestion({ ...base, holds: 'new' })).toBeUndefined();
    expect(nextQuestion({ ...base, newJournaled: false })).toBeUndefined();
    expect(nextQuestion(base)).toBe('newWorks');
    expect(nextQuestion({ ...base, newWorks: false })).toBeUndefined();
    expect(nextQuestion({ ...base, newWorks: true })).toBe('oldWorks');
    expect(nextQuestion({ ...base, holds: 'neither', newWorks: true })).toBeUndefined();
    expect(nextQuestion({ ...base, holds: 'neither', subject: 'pach:root', newWorks: true, oldWorks: false })).toBe(
      'configuredRootWorks',
    );
    expect(() => decideInterruptedRotation(base)).toThrow(/needs pachd's word first \(newWorks\)/);
  });
});

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');
const fingerprintOf = (token: string) => `sha256:${hashOf(token).slice(0, 16)}`;

describe.each([1 as const, 2 as const])(
  'a pach:root rotation interrupted after pachd applied it, pachd %i.x',
  (generation) => {
    let harness: EngineHarness;
    let oldRoot: string;
    let newRoot: string;

    beforeEach(async () => {
      harness = await EngineHarness.start({ generation });
      await harness.configure();
      oldRoot = harness.pachd.rootToken;
      newRoot = generatePachdToken();
      // What a plugin killed while pachd held its minting call leaves: 2.x RotateRootToken swapped
      // the root tokens, 1.x RestoreAuthToken added a second one. The entry is a second old.
      harness.pachd.control.createToken({ subject: 'pach:root', token: newRoot });
      if (generation === 2) harness.pachd.control.deleteToken(hashOf(oldRoot));
      await putWal<AdminRotationWal>(harness.storage, ADMIN_ROTATION_WAL, {
        stage: 'minting',
        subject: 'pach:root',
        generation,
        pachd_address: harness.pachd.pachdAddress,
        old_token: oldRoot,
        new_token: newRoot,
        lands_by: new Date(Date.now() + 20_000).toISOString(),
      });
    });

    afterEach(async () => {
      await harness.stop();
    });

    const liveRoots = () =>
      harness.pachd.control
        .listTokens()
        .filter((view) => view.subject === 'pach:root' && !view.expired)
        .map((view) => `sha256:${view.hash.slice(0, 16)}`);

    it('is settled at the next tick: one root token alive, the configured one, and the mount works', async () => {
      await harness.rollback();
      const config = (await harness.request('read', 'config'))?.data ?? {};
      // 2.x: the new token is the only root token, so it is stored; 1.x: the old one still works, so
      // the new one is revoked.
      const kept = generation === 2 ? newRoot : oldRoot;
      expect(config.admin_token_fingerprint).toBe(fingerprintOf(kept));
      expect(liveRoots()).toEqual([fingerprintOf(kept)]);
      expect(await listWal(harness.storage)).toEqual([]);
      const issued = await harness.request('update', 'login', { username: 'robot:ci' });
      expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
      const rotated = await harness.request('update', 'config/rotate-root');
      expect(liveRoots()).toEqual([rotated?.data?.admin_token_fingerprint]);
    });

    it('is settled by rotate-root before it rotates, without waiting for a tick', async () => {
      const rotated = await harness.request('update', 'config/rotate-root');
      expect(liveRoots()).toEqual([rotated?.data?.admin_token_fingerprint]);
      expect(await listWal(harness.storage)).toEqual([]);
    });
  },
);

describe('a rotation interrupted while its minting call may still land', () => {
  let harness: EngineHarness;
  let admin: string;
  let pending: string;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 1 });
    admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['SUPER'] }).token;
    await harness.configure({ admin_token: admin, rotation_period: '1m' });
    pending = generatePachdToken();
  });

  afterEach(async () => {
    await harness.stop();
  });

  const journal = (landsBy: number) =>
    putWal<AdminRotationWal>(harness.storage, ADMIN_ROTATION_WAL, {
      stage: 'minting',
      subject: 'robot:vault',
      generation: 1,
      pachd_address: harness.pachd.pachdAddress,
      old_token: admin,
      new_token: pending,
      lands_by: new Date(landsBy).toISOString(),
    });

  const makeDue = async () => {
    const config = (await getJson<EngineConfig>(harness.storage, 'config')) as EngineConfig;
    await putJson(harness.storage, 'config', {
      ...config,
      rotation: { ...config.rotation, next_rotation: new Date(Date.now() - 1000).toISOString() },
    });
    harness.backend.invalidate('config');
  };

  const liveAdmins = () =>
    harness.pachd.control
      .listTokens()
      .filter((view) => view.subject === 'robot:vault' && !view.expired)
      .map((view) => `sha256:${view.hash.slice(0, 16)}`);

  it('starts no rotation beside it; once the call lands, undoes it and rotates at that tick', async () => {
    await journal(Date.now() + 60_000);
    await makeDue();
    await harness.rollback();
    let config = (await harness.request('read', 'config'))?.data ?? {};
    expect(config.admin_token_fingerprint).toBe(fingerprintOf(admin));
    expect(await listWal(harness.storage)).toHaveLength(1);
    expect(harness.logLines.join('\n')).toMatch(/waits: an interrupted one may still land/);
    const refused = await harness.failure('update', 'config/rotate-root');
    expect(refused.code).toBe(503);
    expect(refused.message).toMatch(/may still reach pachd, until/);

    // The held call lands: without the wait, the rotation above would now leave two admin tokens.
    harness.pachd.control.createToken({ subject: 'robot:vault', token: pending });
    await harness.rollback();
    config = (await harness.request('read', 'config'))?.data ?? {};
    expect(await harness.whoAmI(pending)).toBeUndefined();
    expect(await harness.whoAmI(admin)).toBeUndefined();
    expect(liveAdmins()).toEqual([config.admin_token_fingerprint]);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('forgets it once the call can no longer land, and the rotation goes ahead', async () => {
    await journal(Date.now() - 1000);
    await makeDue();
    await harness.rollback();
    const config = (await harness.request('read', 'config'))?.data ?? {};
    expect(config.admin_token_fingerprint).not.toBe(fingerprintOf(admin));
    expect(liveAdmins()).toEqual([config.admin_token_fingerprint]);
    expect(await listWal(harness.storage)).toEqual([]);
    expect(harness.logLines.join('\n')).toMatch(/its call can no\s+longer land/);
  });

  it('is kept by the WAL rollback while the call may land, and let go by an immediate one', async () => {
    await journal(Date.now() + 60_000);
    await harness.ageWal();
    await harness.rollback();
    expect(await listWal(harness.storage)).toHaveLength(1);
    await harness.rollback({ immediate: true });
    expect(await listWal(harness.storage)).toEqual([]);
    expect((await harness.request('read', 'config'))?.data?.admin_token_fingerprint).toBe(fingerprintOf(admin));
  });

  it('journals when the minting call can no longer land: its deadline and a call timeout', async () => {
    harness.pachd.control.injectError({ method: 'RestoreAuthToken', code: 14, message: 'pachd is restarting' });
    const before = Date.now();
    await harness.failure('update', 'config/rotate-root');
    const entries = await listWal(harness.storage);
    expect(entries).toHaveLength(1);
    const entry = await getJson<{ data: AdminRotationWal }>(harness.storage, `wal/${entries[0] as string}`);
    const landsBy = Date.parse(entry?.data.lands_by ?? '');
    // The default request timeout is 10 s: 2 for the call and its wait for a turn, 1 of margin.
    expect(landsBy - before).toBeGreaterThanOrEqual(30_000);
    expect(landsBy - Date.now()).toBeLessThanOrEqual(30_000);
  });
});

describe('a root token an interrupted rotation minted, which no configuration holds', () => {
  let harness: EngineHarness;

  afterEach(async () => {
    await harness.stop();
  });

  it('1.x: is revoked when the configuration holds another working root token (a later rotation)', async () => {
    harness = await EngineHarness.start({ generation: 1 });
    const operatorRoot = harness.pachd.rootToken;
    await harness.configure();
    const orphan = generatePachdToken();
    harness.pachd.control.createToken({ subject: 'pach:root', token: orphan });
    // A rotation from the operator's root token left its entry; a later one moved the configuration on.
    await harness.request('update', 'config/rotate-root');
    await putWal<AdminRotationWal>(harness.storage, ADMIN_ROTATION_WAL, {
      stage: 'minting',
      subject: 'pach:root',
      generation: 1,
      pachd_address: harness.pachd.pachdAddress,
      old_token: operatorRoot,
      new_token: orphan,
      lands_by: new Date(Date.now() - 1000).toISOString(),
    });
    await harness.rollback();
    const configured = (await harness.request('read', 'config'))?.data?.admin_token_fingerprint;
    expect(await harness.whoAmI(orphan)).toBeUndefined();
    const roots = harness.pachd.control
      .listTokens()
      .filter((view) => view.subject === 'pach:root' && !view.expired)
      .map((view) => `sha256:${view.hash.slice(0, 16)}`);
    expect(roots).toEqual([configured]);
    expect(await listWal(harness.storage)).toEqual([]);
  });
});
