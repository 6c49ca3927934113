import { createHash } from 'node:crypto';
import type { EngineConfig, RotationState } from '../../../plugin/pachyderm/mount/config';
import { getJson, putJson } from '../../../plugin/sdk/storage';
import { ReplicationState } from '../../../plugin/sdk/system-view';
import { getWal, listWal } from '../../../plugin/sdk/wal';
import { ADMIN_ROTATION_WAL, type AdminRotationWal } from '../../../plugin/pachyderm/admin/admin-rotation';
import { EngineHarness } from './engine-harness';

/**
 * The automated rotation of the admin token from the rollback tick: on a period or a schedule,
 * before an expiring token runs out, with backoff after failures, serialized with every other
 * writer of the configuration. Time is compressed by moving the stored schedule into the past.
 */
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');
const PAST = () => new Date(Date.now() - 1000).toISOString();

async function storedConfig(harness: EngineHarness): Promise<EngineConfig> {
  const config = await getJson<EngineConfig>(harness.storage, 'config');
  if (config === undefined) throw new Error('no stored configuration');
  return config;
}

/** Changes the stored rotation state, as time passing would make it due. */
async function patchRotation(harness: EngineHarness, patch: RotationState): Promise<void> {
  const config = await storedConfig(harness);
  await putJson(harness.storage, 'config', { ...config, rotation: { ...config.rotation, ...patch } });
  harness.backend.invalidate('config');
}

/**
 * Moves the minting deadline of journaled rotations into the past, as time passing would: a
 * rotation that failed ambiguously keeps its entry, and no rotation starts before that time.
 */
async function ageRotationJournal(harness: EngineHarness): Promise<void> {
  for (const id of await listWal(harness.storage)) {
    const entry = await getWal<AdminRotationWal>(harness.storage, id);
    if (entry?.kind !== ADMIN_ROTATION_WAL) continue;
    await putJson(harness.storage, `wal/${id}`, { ...entry, data: { ...entry.data, lands_by: PAST() } });
  }
}

async function readConfig(harness: EngineHarness) {
  const response = await harness.request('read', 'config');
  return { data: response?.data ?? {}, warnings: response?.warnings ?? [] };
}

describe.each([
  { generation: 1 as const, admin: 'robot:vault', roles: ['SUPER'], mintMethod: 'RestoreAuthToken' },
  // Before 1.11.9 pachd generates the new value (GetAuthToken).
  {
    generation: 1 as const,
    admin: 'robot:vault',
    roles: ['SUPER'],
    mintMethod: 'GetAuthToken',
    pachdVersion: '1.11.2',
  },
  { generation: 2 as const, admin: 'robot:vault', roles: ['clusterAdmin'], mintMethod: 'RestoreAuthToken' },
  { generation: 2 as const, admin: 'pach:root', roles: [], mintMethod: 'RotateRootToken' },
])(
  'scheduled rotation, pachd $generation.x, admin $admin, by $mintMethod',
  ({ generation, admin, roles, mintMethod, pachdVersion }) => {
    let harness: EngineHarness;
    let adminToken: string;

    beforeEach(async () => {
      harness = await EngineHarness.start({ generation, ...(pachdVersion === undefined ? {} : { pachdVersion }) });
      adminToken =
        admin === 'pach:root'
          ? harness.pachd.rootToken
          : harness.pachd.control.createToken({ subject: admin, roles, ttlSeconds: 7 * 24 * 3600 }).token;
      await harness.configure({ admin_token: adminToken, rotation_period: '1m' });
    });

    afterEach(async () => {
      await harness.stop();
    });

    /** Admin-subject tokens alive at pachd, besides the stand-in's own root token (unless it is the admin). */
    const liveAdminTokens = () =>
      harness.pachd.control
        .listTokens()
        .filter(
          (view) =>
            view.subject === admin &&
            !view.expired &&
            (admin === 'pach:root' || view.hash !== hashOf(harness.pachd.rootToken)),
        );

    const expectOneAdminTokenAlive = async () => {
      const { data } = await readConfig(harness);
      expect(liveAdminTokens().map((view) => `sha256:${view.hash.slice(0, 16)}`)).toEqual([
        data.admin_token_fingerprint,
      ]);
      const issued = await harness.request('update', 'login', { username: 'robot:ci' });
      expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
    };

    it('rotates when the period has passed, and not before', async () => {
      const before = await readConfig(harness);
      expect(before.data).toMatchObject({ rotation_period: 60, rotation_schedule: '', last_rotation: null });
      const next = Date.parse(before.data.next_rotation as string);
      expect(next - Date.now()).toBeGreaterThan(50_000);
      expect(next - Date.now()).toBeLessThanOrEqual(60_000);

      await harness.rollback();
      expect((await readConfig(harness)).data.admin_token_fingerprint).toBe(before.data.admin_token_fingerprint);

      await patchRotation(harness, { next_rotation: PAST() });
      await harness.rollback();
      const after = await readConfig(harness);
      expect(after.data.admin_token_fingerprint).not.toBe(before.data.admin_token_fingerprint);
      expect(Date.now() - Date.parse(after.data.last_rotation as string)).toBeLessThan(10_000);
      expect(Date.parse(after.data.next_rotation as string) - Date.now()).toBeGreaterThan(50_000);
      expect(after.data.rotation_failures).toBe(0);
      expect(await harness.whoAmI(adminToken)).toBeUndefined();
      expect(await listWal(harness.storage)).toEqual([]);
      await expectOneAdminTokenAlive();
      expect(harness.logLines.join('\n')).toMatch(/automated rotation of the admin token done/);
    });

    it('rotates at a tick a moment before the time, and counts the next time from the scheduled one', async () => {
      const before = (await readConfig(harness)).data.admin_token_fingerprint;
      // Vault's tick comes a little early: the rotation is on time all the same, not a minute late.
      const scheduled = new Date(Date.now() + 2000).toISOString();
      await patchRotation(harness, { next_rotation: scheduled });
      await harness.rollback();
      const after = await readConfig(harness);
      expect(after.data.admin_token_fingerprint).not.toBe(before);
      expect(after.data.next_rotation).toBe(new Date(Date.parse(scheduled) + 60_000).toISOString());
      await expectOneAdminTokenAlive();
      // A rotation whose ticks were missed: the times that passed are skipped, from the scheduled one.
      const late = Date.now() - 150_000;
      await patchRotation(harness, { next_rotation: new Date(late).toISOString() });
      await harness.rollback();
      expect((await readConfig(harness)).data.next_rotation).toBe(new Date(late + 180_000).toISOString());
    });

    it('retries a failure with backoff, gives up after repeated ones, and rotate-root resets it', async () => {
      harness.pachd.control.injectError({ method: mintMethod, code: 14, message: 'pachd is restarting' });
      await patchRotation(harness, { next_rotation: PAST() });
      await harness.rollback();
      let read = await readConfig(harness);
      expect(read.data).toMatchObject({ rotation_failures: 1, automated_rotation_stopped: false });
      expect(read.data.last_rotation_error).toMatch(/pachd is restarting/);
      const retryIn = Date.parse(read.data.next_rotation as string) - Date.now();
      expect(retryIn).toBeGreaterThan(50_000);
      expect(retryIn).toBeLessThanOrEqual(60_000);
      // Not before the backoff has passed.
      await harness.rollback();
      expect((await readConfig(harness)).data.rotation_failures).toBe(1);

      for (let failure = 2; failure <= 5; failure += 1) {
        await patchRotation(harness, { retry_at: PAST() });
        await ageRotationJournal(harness);
        await harness.rollback();
        read = await readConfig(harness);
        expect(read.data.rotation_failures).toBe(failure);
      }
      expect(read.data.automated_rotation_stopped).toBe(true);
      expect(read.warnings.join(' ')).toMatch(/stopped after 5 failed attempt\(s\).*pachd is restarting/);
      expect(read.data.next_rotation).toBe((await storedConfig(harness)).rotation?.given_up_until);
      expect(harness.logLines.join('\n')).toMatch(/automated rotation of the admin token failed/);
      // Given up: no more attempts, even when the retry time comes.
      await patchRotation(harness, { retry_at: PAST() });
      await harness.rollback();
      expect((await readConfig(harness)).data.rotation_failures).toBe(5);

      harness.pachd.control.clearErrors();
      await expectOneAdminTokenAlive();
      if (mintMethod === 'GetAuthToken') {
        // pachd picks the value: nothing journaled to wait for, and the last tick let the entry go.
        expect(await listWal(harness.storage)).toEqual([]);
      } else {
        // The last attempt's call may still land: rotate-root waits for it, with a 503 saying until when.
        const pending = await harness.failure('update', 'config/rotate-root');
        expect(pending.code).toBe(503);
        expect(pending.message).toMatch(/may still reach pachd, until/);
        await ageRotationJournal(harness);
      }
      await harness.request('update', 'config/rotate-root');
      read = await readConfig(harness);
      expect(read.data).toMatchObject({ rotation_failures: 0, automated_rotation_stopped: false });
      expect(read.data.last_rotation).not.toBeNull();
      expect(read.warnings).toEqual([]);
      await expectOneAdminTokenAlive();
    });

    it('serializes a scheduled rotation with concurrent config writes: one admin token alive', async () => {
      harness.pachd.control.setLatency(mintMethod, 60);
      await patchRotation(harness, { next_rotation: PAST() });
      const results = await Promise.allSettled([
        harness.request('update', 'config', { ttl: '1h' }),
        harness.rollback(),
        harness.request('update', 'config/rotate-root'),
        harness.request('update', 'config', { max_ttl: '2h' }),
      ]);
      harness.pachd.control.setLatency(mintMethod, 0);
      expect(results.map((result) => result.status)).toEqual(Array(4).fill('fulfilled'));
      const { data } = await readConfig(harness);
      expect(data).toMatchObject({ ttl: 3600, max_ttl: 7200, rotation_failures: 0 });
      expect(data.admin_token_fingerprint).not.toBe(`sha256:${hashOf(adminToken).slice(0, 16)}`);
      await expectOneAdminTokenAlive();
    });

    it.each([
      ['a performance standby', ReplicationState.performanceStandby],
      ['a DR secondary', ReplicationState.drSecondary],
      ['a performance secondary (the mount is not local)', ReplicationState.performanceSecondary],
    ])('does not run on %s', async (_name, state) => {
      harness.system.replicationStateValue = state;
      await patchRotation(harness, { next_rotation: PAST() });
      const before = (await readConfig(harness)).data.admin_token_fingerprint;
      await harness.rollback();
      expect((await readConfig(harness)).data.admin_token_fingerprint).toBe(before);
      harness.system.replicationStateValue = ReplicationState.performancePrimary;
      await harness.rollback();
      expect((await readConfig(harness)).data.admin_token_fingerprint).not.toBe(before);
    });
  },
);

describe('rotation of an expiring admin token', () => {
  let harness: EngineHarness;

  afterEach(async () => {
    await harness.stop();
  });

  it.each([1 as const, 2 as const])(
    'pachd %i.x: rotates a token near the end of its life without any schedule',
    async (generation) => {
      harness = await EngineHarness.start({ generation });
      const roles = generation === 1 ? ['SUPER'] : ['clusterAdmin'];
      const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles, ttlSeconds: 540 });
      await harness.configure({ admin_token: admin.token });
      const before = await readConfig(harness);
      expect(before.data).toMatchObject({ rotation_period: 0, rotation_schedule: '' });
      // Nine minutes left: past two thirds of its life and within the ten-minute floor.
      expect(Date.parse(before.data.next_rotation as string)).toBeLessThanOrEqual(Date.now());
      await harness.rollback();
      const after = await readConfig(harness);
      expect(after.data.admin_token_fingerprint).not.toBe(before.data.admin_token_fingerprint);
      expect(Date.parse(after.data.admin_token_expires_at as string) - Date.now()).toBeGreaterThan(29 * 24 * 3600_000);
      expect(await harness.whoAmI(admin.token)).toBeUndefined();
      // The next rotation is at two thirds of the new token's life.
      const next = Date.parse(after.data.next_rotation as string) - Date.now();
      expect(next).toBeGreaterThan(19 * 24 * 3600_000);
      expect(next).toBeLessThan(21 * 24 * 3600_000);
    },
  );

  it('leaves a token with most of its life alone', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    const admin = harness.pachd.control.createToken({
      subject: 'robot:vault',
      roles: ['clusterAdmin'],
      ttlSeconds: 7 * 24 * 3600,
    });
    await harness.configure({ admin_token: admin.token });
    await harness.rollback();
    expect(await harness.whoAmI(admin.token)).toBe('robot:vault');
  });

  it('says when the mount stops working when the token cannot rotate itself', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    // A user bound to robotUser issues robot tokens but cannot re-issue its own.
    const admin = harness.pachd.control.createToken({
      subject: 'user:ops@example.com',
      roles: ['robotUser'],
      ttlSeconds: 540,
    });
    await harness.configure({ admin_token: admin.token });
    await harness.rollback();
    const read = await readConfig(harness);
    expect(await harness.whoAmI(admin.token)).toBe('user:ops@example.com');
    expect(read.data.admin_token_stops_working_at).toBe(read.data.admin_token_expires_at);
    expect(read.data).toMatchObject({ automated_rotation_stopped: true, next_rotation: null });
    expect(read.data.last_rotation_error).toMatch(/cannot rotate the admin token of user:ops@example.com/);
    expect(read.warnings.join(' ')).toMatch(/the mount stops working at that time/);
    // A warning at every tick while so.
    await harness.rollback();
    expect(harness.logLines.filter((line) => line.includes('the mount stops working')).length).toBeGreaterThanOrEqual(
      2,
    );
  });

  it('says when the mount stops working when automated rotation is disabled', async () => {
    harness = await EngineHarness.start({ generation: 2 });
    const admin = harness.pachd.control.createToken({
      subject: 'robot:vault',
      roles: ['clusterAdmin'],
      ttlSeconds: 540,
    });
    await harness.configure({ admin_token: admin.token, disable_automated_rotation: true });
    await harness.rollback();
    const read = await readConfig(harness);
    expect(await harness.whoAmI(admin.token)).toBe('robot:vault');
    expect(read.data).toMatchObject({ disable_automated_rotation: true, next_rotation: null });
    expect(read.data.admin_token_stops_working_at).toBe(read.data.admin_token_expires_at);
    expect(read.warnings.join(' ')).toMatch(/will not rotate it/);
  });
});

describe('rotation settings on config', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  it.each([
    [{ rotation_period: '1h', rotation_schedule: '0 * * * *' }, /mutually exclusive/],
    [{ rotation_period: '30s' }, /rotation_period must be at least 60s/],
    [{ rotation_window: '1h' }, /rotation_window applies to rotation_schedule only/],
    [{ rotation_schedule: '0 25 * * *' }, /rotation_schedule "0 25 \* \* \*".*hour 25 is outside 0-23/],
  ])('refuses %j with a 400', async (data, why) => {
    const error = await harness.failure('update', 'config', data);
    expect(error.message).toMatch(why);
  });

  it('a schedule replaces a period, and a window goes with its schedule', async () => {
    await harness.request('update', 'config', { rotation_period: '1h' });
    await harness.request('update', 'config', { rotation_schedule: '0 3 * * *', rotation_window: '1h' });
    let { data } = await readConfig(harness);
    expect(data).toMatchObject({ rotation_period: 0, rotation_schedule: '0 3 * * *', rotation_window: 3600 });
    const next = new Date(data.next_rotation as string);
    expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([3, 0]);
    await harness.request('update', 'config', { rotation_period: '2h' });
    ({ data } = await readConfig(harness));
    expect(data).toMatchObject({ rotation_period: 7200, rotation_schedule: '', rotation_window: 0 });
  });

  it('skips a scheduled time whose window has passed', async () => {
    await harness.request('update', 'config', { rotation_schedule: '*/5 * * * *', rotation_window: '1m' });
    const before = (await readConfig(harness)).data.admin_token_fingerprint;
    await patchRotation(harness, { next_rotation: new Date(Date.now() - 600_000).toISOString() });
    await harness.rollback();
    const { data } = await readConfig(harness);
    expect(data.admin_token_fingerprint).toBe(before);
    expect(Date.parse(data.next_rotation as string)).toBeGreaterThan(Date.now());
    expect(harness.logLines.join('\n')).toMatch(/missed its rotation_window/);
  });

  it('reads a configuration stored before rotation settings existed', async () => {
    const {
      rotation_period_seconds,
      rotation_schedule,
      rotation_window_seconds,
      disable_automated_rotation,
      rotation,
      ...old
    } = await storedConfig(harness);
    void [rotation_period_seconds, rotation_schedule, rotation_window_seconds, disable_automated_rotation, rotation];
    await putJson(harness.storage, 'config', old);
    harness.backend.invalidate('config');
    const { data } = await readConfig(harness);
    expect(data).toMatchObject({
      rotation_period: 0,
      rotation_schedule: '',
      rotation_window: 0,
      disable_automated_rotation: false,
      last_rotation: null,
      next_rotation: null,
      last_rotation_error: null,
      last_rotation_error_at: null,
    });
    await harness.rollback();
    const issued = await harness.request('update', 'login', { username: 'robot:ci' });
    expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe('robot:ci');
  });
});
