import {
  ISSUANCE_BATCH_WAL,
  ISSUANCE_WAL,
  type IssuanceWal,
} from '../../../plugin/pachyderm/issuance/issuance-journal';
import { generatePachdToken, hashPachdToken } from '../../../plugin/pachyderm/pachd/token-material';
import { AfterResponse } from '../../../plugin/sdk/after-response';
import type { Response } from '../../../plugin/sdk/logical';
import { getWal, listWal } from '../../../plugin/sdk/wal';
import { WalBatches, type WalBatchRecord } from '../../../plugin/sdk/wal-batches';
import { TokenStore, type StoredToken } from '../../pachd/token-store';
import type { TokenOrigin } from '../../pachd/token-history';
import { GatedStorage, turns } from '../gated-storage';
import { makeRequest, memoryLogger } from '../sdk-helpers';
import { EngineHarness } from './engine-harness';

/**
 * Issuances that start while another's journal entry is being written share the next record:
 * fewer storage exchanges, the same guarantee (every token journaled before pachd sees it, and
 * covered by a lease or a stored entry at every moment after).
 */

/** Every token pachd installed, and whether a stored WAL entry named it at that very moment. */
interface Installed {
  hash: string;
  journaled: boolean;
}

describe.each([1 as const, 2 as const])(
  'issuance journal records shared by several issuances, pachd %i.x',
  (generation) => {
    let harness: EngineHarness;
    let storage: GatedStorage;
    let installed: Installed[];
    let joins: jest.SpyInstance;

    beforeEach(async () => {
      storage = new GatedStorage();
      harness = await EngineHarness.start({ generation }, storage);
      await harness.configure({ request_timeout: '2s' });
      installed = [];
      const insert = TokenStore.prototype.insert;
      jest.spyOn(TokenStore.prototype, 'insert').mockImplementation(function (
        this: TokenStore,
        token: StoredToken,
        origin: TokenOrigin,
      ) {
        if (origin === 'RestoreAuthToken') {
          const journaled = [...storage.journaledTokens()].some((value) => hashPachdToken(value) === token.hash);
          installed.push({ hash: token.hash, journaled });
        }
        return insert.call(this, token, origin);
      });
      joins = jest.spyOn(WalBatches.prototype, 'join');
      storage.puts = [];
      storage.deletes = 0;
    });

    afterEach(async () => {
      jest.restoreAllMocks();
      await harness.stop();
    });

    const login = (subject: string, extra: Parameters<EngineHarness['request']>[3] = {}) =>
      harness.request('update', 'login', { username: subject }, extra);

    /** Runs `first`, then, while its entry's write is held, the others: they share the next record. */
    async function together<T>(
      first: () => Promise<T>,
      others: (() => Promise<T>)[],
    ): Promise<PromiseSettledResult<T>[]> {
      const before = joins.mock.calls.length;
      storage.hold();
      const started = [first()];
      await until(() => joins.mock.calls.length === before + 1);
      started.push(...others.map((other) => other()));
      await until(() => joins.mock.calls.length === before + 1 + others.length);
      storage.release();
      return Promise.allSettled(started);
    }

    const tokensOf = (results: PromiseSettledResult<Response | undefined>[]) =>
      results.flatMap((result) => (result.status === 'fulfilled' ? [result.value?.data?.user_token as string] : []));

    /** What every stored WAL entry names, once every request has settled. */
    async function storedMembers(): Promise<IssuanceWal[]> {
      const members: IssuanceWal[] = [];
      for (const id of await listWal(storage)) {
        const entry = await getWal<WalBatchRecord<IssuanceWal>>(storage, id);
        members.push(...(entry?.data.members ?? []));
      }
      return members;
    }

    it('journals concurrent issuances in fewer records than issuances, each before pachd sees its token', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_unused, index) => login(`robot:ci-${index}`)),
      );
      const tokens = tokensOf(results);
      expect(tokens).toHaveLength(12);
      expect(storage.puts.length).toBeLessThan(12);
      expect(storage.puts.flatMap((record) => record.members)).toHaveLength(12);
      expect(storage.deletes).toBe(storage.puts.length);
      expect(installed).toHaveLength(12);
      expect(installed.filter((install) => !install.journaled)).toEqual([]);
      for (const token of tokens) expect(harness.liveToken(token)).toBeDefined();
      expect(await listWal(storage)).toEqual([]);
    });

    it('writes a lone issuance at once, as a record of one', async () => {
      await login('robot:ci');
      expect(storage.puts).toEqual([{ members: [expect.objectContaining({ subject: 'robot:ci' })] }]);
      expect(joins).toHaveBeenCalledTimes(1);
      expect(storage.deletes).toBe(1);
      expect(installed).toEqual([expect.objectContaining({ journaled: true })]);
    });

    it('settles a cancelled, a refused and an unreadable member alone, and the others are issued', async () => {
      harness.pachd.control.injectError({ method: 'RestoreAuthToken', code: 7, message: 'not authorized', count: 1 });
      const results = await together(
        () => login('robot:first'),
        [
          () => login('robot:cancelled', { cancelled: () => true }),
          () => login('robot:a'),
          () => login('robot:b'),
          () => login('robot:c'),
        ],
      );
      expect(storage.puts.map((record) => record.members.length)).toEqual([1, 4]);
      // One restore was refused; the cancelled one never reached pachd.
      expect(results.filter((result) => result.status === 'rejected')).toHaveLength(2);
      const tokens = tokensOf(results);
      expect(tokens).toHaveLength(3);
      expect(harness.liveTokensExcept([harness.pachd.rootToken, ...tokens])).toEqual([]);
      expect(await listWal(storage)).toEqual([]);

      // One whose token pachd stores but cannot read back is revoked; the others live.
      harness.pachd.control.injectError({ method: 'WhoAmI', code: 13, message: 'internal', count: 1 });
      const second = await together(() => login('robot:first'), [() => login('robot:d'), () => login('robot:e')]);
      expect(second.filter((result) => result.status === 'rejected')).toHaveLength(1);
      const more = tokensOf(second);
      for (const token of more) expect(harness.liveToken(token)).toBeDefined();
      expect(harness.liveTokensExcept([harness.pachd.rootToken, ...tokens, ...more])).toEqual([]);
      expect(await listWal(storage)).toEqual([]);
      expect(installed.filter((install) => !install.journaled)).toEqual([]);
    });

    it('keeps a member whose call may still land, in its record rewritten to hold it alone', async () => {
      // The first never reaches pachd, so the fault meets a member of the shared record.
      harness.pachd.control.injectError({
        method: 'RestoreAuthToken',
        code: 13,
        message: 'transport is closing',
        count: 1,
      });
      const results = await together(
        () => login('robot:first', { cancelled: () => true }),
        [() => login('robot:a'), () => login('robot:b'), () => login('robot:c')],
      );
      expect(storage.puts[1]?.members).toHaveLength(3);
      const delivered = tokensOf(results);
      expect(delivered).toHaveLength(2);
      const left = await storedMembers();
      expect(left).toHaveLength(1);
      expect(delivered).not.toContain(left[0]?.token);
      expect(storage.puts.at(-1)?.members).toEqual(left);
      await harness.rollback({ immediate: true });
      expect(await listWal(storage)).toEqual([]);
      for (const token of delivered) expect(harness.liveToken(token)).toBeDefined();
    });

    it('at the mount cleanup, drops delivered members from a record another issuance still holds', async () => {
      const pendingAfter = new AfterResponse();
      const logger = memoryLogger().logger;
      let lateAnswer: Response | undefined;
      await together<Response | undefined>(
        () => login('robot:first'),
        [
          () => login('robot:a'),
          async () => {
            // Answered, its answer not yet delivered: the member is unsettled.
            lateAnswer = await harness.backend.handleRequest(
              makeRequest('update', 'login', { storage, data: { username: 'robot:b' }, afterResponse: pendingAfter }),
            );
            return lateAnswer;
          },
        ],
      );
      const late = lateAnswer?.data?.user_token as string;
      expect((await storedMembers()).map((member) => member.subject).sort()).toEqual(['robot:a', 'robot:b']);
      await harness.backend.cleanup();
      expect(await storedMembers()).toEqual([expect.objectContaining({ subject: 'robot:b', token: late })]);
      await pendingAfter.settle(true, logger);
      expect(await listWal(storage)).toEqual([]);
      expect(harness.liveToken(late)).toBeDefined();
    });
  },
);

describe('issuance journal records of two mounts in one process', () => {
  it("never holds another mount's issuances: each mount journals through its own storage", async () => {
    const storages = [new GatedStorage(), new GatedStorage()] as const;
    const first = await EngineHarness.start({ generation: 2 }, storages[0]);
    const second = EngineHarness.beside(first, storages[1]);
    try {
      await first.configure();
      await second.configure();
      for (const storage of storages) storage.puts = [];
      const issued = await Promise.all(
        Array.from({ length: 16 }, (_unused, index) =>
          (index % 2 === 0 ? first : second).request('update', 'login', {
            username: `robot:mount${index % 2}-${index}`,
          }),
        ),
      );
      expect(issued.every((response) => typeof response?.data?.user_token === 'string')).toBe(true);
      storages.forEach((storage, mount) => {
        const subjects = storage.puts.flatMap((record) =>
          record.members.map((member) => (member as IssuanceWal).subject),
        );
        expect(subjects).toHaveLength(8);
        expect(subjects.every((subject) => subject.startsWith(`robot:mount${mount}-`))).toBe(true);
      });
      expect(await listWal(storages[0])).toEqual([]);
      expect(await listWal(storages[1])).toEqual([]);
    } finally {
      await second.stop();
      await first.stop();
    }
  });
});

describe('the rollback of issuance journal records', () => {
  let harness: EngineHarness;

  beforeEach(async () => {
    harness = await EngineHarness.start({ generation: 2 });
    await harness.configure();
  });

  afterEach(async () => {
    await harness.stop();
  });

  const pendingFor = (subject: string, token: string, address = harness.pachd.pachdAddress): IssuanceWal => ({
    subject,
    generation: 2,
    pachd_address: address,
    expires_at: new Date(Date.now() + 3600_000).toISOString(),
    token,
  });

  it('revokes every member, and keeps a member it could not roll back in the record, alone', async () => {
    const alive = ['robot:a', 'robot:b'].map(
      (subject) => harness.pachd.control.createToken({ subject, ttlSeconds: 3600 }).token,
    );
    // A member whose pachd cannot be reached (its home a closed port) fails.
    const unreachable = pendingFor('robot:gone', generatePachdToken(), 'grpc://127.0.0.1:1');
    const never = pendingFor('robot:never', generatePachdToken());
    await harness.journalAged<WalBatchRecord<IssuanceWal>>(ISSUANCE_BATCH_WAL, {
      members: [pendingFor('robot:a', alive[0]!), unreachable, never, pendingFor('robot:b', alive[1]!)],
    });
    await harness.rollback();
    for (const token of alive) expect(harness.liveToken(token)).toBeUndefined();
    const [id, ...others] = await listWal(harness.storage);
    expect(others).toEqual([]);
    const kept = await getWal<WalBatchRecord<IssuanceWal>>(harness.storage, id!);
    expect(kept?.kind).toBe(ISSUANCE_BATCH_WAL);
    expect(kept?.data.members).toEqual([unreachable]);
    expect(harness.logLines.join('')).toContain('1 of 4 interrupted issuances of the record could not be rolled back');
  }, 30_000);

  it('still rolls back an entry of its own, as older releases stored every issuance', async () => {
    const token = harness.pachd.control.createToken({ subject: 'robot:old', ttlSeconds: 3600 }).token;
    await harness.journalAged(ISSUANCE_WAL, pendingFor('robot:old', token));
    await harness.rollback();
    expect(harness.liveToken(token)).toBeUndefined();
    expect(await listWal(harness.storage)).toEqual([]);
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await turns(1);
  }
}
