import { ErrorType } from '../../../plugin/sdk/errors';
import { getWal, listWal } from '../../../plugin/sdk/wal';
import { ISSUANCE_BATCH_WAL, type IssuanceWal } from '../../../plugin/pachyderm/issuance/issuance-journal';
import type { WalBatchRecord } from '../../../plugin/sdk/wal-batches';
import { hashPachdToken } from '../../../plugin/pachyderm/pachd/token-material';
import { EngineHarness } from './engine-harness';

/**
 * Where pachd lets it, the engine picks every token value and journals it before pachd sees it,
 * so that whatever happens to a request, a token it created is covered by a lease or a WAL
 * entry the rollback tick acts on.
 */
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each([
  { generation: 1 as const, robotMint: 'GetAuthToken', user: 'okta:alice@example.com' },
  { generation: 2 as const, robotMint: 'GetRobotToken', user: 'user:alice@example.com' },
])('the issuance journal, pachd $generation.x', ({ generation, robotMint, user }) => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation });
    await harness.configure({ request_timeout: '1s' });
  });

  afterEach(async () => {
    await harness.stop();
  });

  const walEntries = async () =>
    Promise.all(
      (await listWal(harness.storage)).map(
        async (id) => (await getWal<WalBatchRecord<IssuanceWal>>(harness.storage, id))!,
      ),
    );

  it('says it restores, and installs robot and user tokens it picked itself, never asking pachd to generate one', async () => {
    expect((await harness.request('read', 'config'))?.data).toMatchObject({ issuance_mode: 'restore' });
    harness.pachd.control.injectError({ method: robotMint, code: 13, message: 'the engine must not generate here' });
    for (const subject of ['robot:ci', user]) {
      const issued = await harness.request('update', 'login', { username: subject });
      expect(await harness.whoAmI(issued?.data?.user_token as string)).toBe(subject);
    }
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('revokes, in the rollback, a robot token whose answer never came back (the value was journaled first)', async () => {
    harness.pachd.control.setLatency('RestoreAuthToken', 1500);
    const error = await harness.failure('update', 'login', { username: 'robot:ci', ttl: '10m' });
    expect(error.code).toBe(502);
    const [entry] = await walEntries();
    expect(entry?.kind).toBe(ISSUANCE_BATCH_WAL);
    const [member] = entry?.data.members ?? [];
    expect(member).toMatchObject({ subject: 'robot:ci', token: expect.stringMatching(/^[0-9a-f]{32}$/) });
    await pause(1200); // pachd applies the restore after all
    harness.pachd.control.setLatency('RestoreAuthToken', 0);
    const token = member?.token ?? '';
    expect(harness.liveToken(token)?.subject).toBe('robot:ci');
    await harness.rollback({ immediate: true });
    expect(harness.liveToken(token)).toBeUndefined();
    expect(await listWal(harness.storage)).toEqual([]);
    expect(harness.logLines.join('')).toContain('revoked a token whose issuance was interrupted');
  });

  it('keeps the entry after an ambiguous failure, and says so when the rollback finds nothing at pachd', async () => {
    harness.pachd.control.injectError({
      method: 'RestoreAuthToken',
      code: 13,
      message: 'transport is closing',
      count: 1,
    });
    expect((await harness.failure('update', 'login', { username: user })).code).toBe(502);
    expect(await walEntries()).toHaveLength(1);
    await harness.rollback({ immediate: true });
    expect(await listWal(harness.storage)).toEqual([]);
    const logs = harness.logLines.join('');
    expect(logs).not.toContain('revoked a token whose issuance was interrupted');
    // 2.x reports the rows a revocation deleted, 1.x from 1.13.3 refuses an unknown token: both say it was never there.
    expect(logs).toContain('never created its token at pachd');
  });

  it('drops the entry at once when pachd refused the call', async () => {
    harness.pachd.control.injectError({
      method: 'RestoreAuthToken',
      code: 7,
      message: 'not authorized to perform this operation',
      count: 1,
    });
    expect((await harness.failure('update', 'login', { username: user })).code).toBe(502);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('revokes the token when the host gave up before the answer reached it, and releases the entry', async () => {
    await expect(
      harness.request('update', 'login', { username: user }, { cancelledOnceAnswered: true }),
    ).resolves.toBeDefined();
    expect(harness.liveTokensExcept([harness.pachd.rootToken])).toEqual([]);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('keeps the entry until the answer is out, then releases it', async () => {
    let entriesWhileAnswering = -1;
    const issued = await harness.request(
      'update',
      'login',
      { username: user },
      {
        cancelled: () => {
          void listWal(harness.storage).then((ids) => {
            entriesWhileAnswering = Math.max(entriesWhileAnswering, ids.length);
          });
          return false;
        },
      },
    );
    expect(entriesWhileAnswering).toBe(1);
    expect(harness.liveToken(issued?.data?.user_token as string)?.subject).toBe(user);
    expect(await listWal(harness.storage)).toEqual([]);
  });

  it('puts a floor under lifetimes sent to pachd: max_ttl=1s never makes an immortal token', async () => {
    const issued = await harness.request('update', 'login', { username: 'robot:ci', ttl: '1s', max_ttl: '1s' });
    const atPachd = harness.liveToken(issued?.data?.user_token as string);
    expect(atPachd?.expiresAt).not.toBeNull();
    expect(atPachd?.ttlSeconds).toBeGreaterThanOrEqual(9);
  });

  it("revokes a restored token pachd stored without an expiry (pachd's clock ahead), and fails the issuance", async () => {
    // A 60 s lease asks pachd for 61 s (2.x: max_ttl + 1) or 65 s (1.x: ttl + 5). With pachd's clock
    // that far ahead less half a second, half a second is left, which pachd stores as no expiry.
    harness.pachd.control.advanceClock(generation === 1 ? 64.5 : 60.5);
    const error = await harness.failure('update', 'login', { username: 'robot:ci', ttl: '60s', max_ttl: '60s' });
    expect(error.code).toBe(502);
    expect(error.message).toMatch(/without an expiry/);
    expect(
      harness.pachd.control.listTokens().filter((view) => view.expiresAt === null && view.subject === 'robot:ci'),
    ).toEqual([]);
    expect(await listWal(harness.storage)).toEqual([]);
  });
});

describe('an admin token that may only generate robot tokens (2.x robotUser)', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
    const admin = harness.pachd.control.createToken({ subject: 'robot:vault', roles: ['robotUser'] });
    const response = await harness.configure({ admin_token: admin.token });
    expect(response?.warnings?.join(' ')).toMatch(/GetRobotToken/);
  });

  afterEach(async () => {
    await harness.stop();
  });

  it('says pachd generates the values and why, issues robots with GetRobotToken, and refuses users with a 400', async () => {
    const config = (await harness.request('read', 'config'))?.data;
    expect(config).toMatchObject({ issuance_mode: 'pachd-generated', can_issue_user_tokens: false });
    expect(config?.issuance_mode_reason).toMatch(/Bind clusterAdmin to robot:vault/);
    const issued = await harness.request('update', 'login', { username: 'robot:ci', max_ttl: '1s' });
    const token = issued?.data?.user_token as string;
    expect(await harness.whoAmI(token)).toBe('robot:ci');
    // GetRobotToken gets a real lifetime, never 0 (which pachd reads as "never expires").
    expect(harness.liveToken(token)?.expiresAt).not.toBeNull();
    const refused = await harness.failure('update', 'login', { username: 'user:alice@example.com' });
    expect(refused.type).toBe(ErrorType.InvalidRequest);
    expect(refused.message).toMatch(/robot tokens only/);
    expect(hashPachdToken(token)).toHaveLength(64);
  });
});
