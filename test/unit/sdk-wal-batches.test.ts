import { WalBatches, type WalBatchMember } from '../../plugin/sdk/wal-batches';
import { turns } from './gated-storage';
import { GatedStorage } from './gated-storage';
import { memoryLogger } from './sdk-helpers';

/**
 * Group commit of WAL entries: a lone entry is written at once; entries that arrive while a write
 * is in flight share the next record; storage hears of a record again only once all its members
 * settled, and then never keeps a member that did not ask to be kept.
 */

describe('WAL group commit', () => {
  let storage: GatedStorage;
  let batches: WalBatches;
  let lines: string[];

  beforeEach(() => {
    storage = new GatedStorage();
    const logged = memoryLogger();
    lines = logged.lines;
    // Released members wait for their record's others far longer than any test here, unless one says otherwise.
    batches = new WalBatches('test-kind', logged.logger, { maxMembers: 3, releasedWaitMs: 60_000 });
  });

  it('writes a lone entry at once, as a record of one, and deletes it once released', async () => {
    const member = await batches.join(storage, { n: 1 });
    expect(storage.puts).toEqual([{ members: [{ n: 1 }] }]);
    expect(await storage.records()).toEqual([[{ n: 1 }]]);
    await member.settle('released', storage);
    expect(await storage.records()).toEqual([]);
    expect(storage.deletes).toBe(1);
    expect(batches.openRecords).toBe(0);
  });

  it('stores entries that arrive during a write as one record, handing each out only once it is stored', async () => {
    storage.hold();
    const first = batches.join(storage, { n: 0 });
    const handed: number[] = [];
    const rest = [1, 2, 3, 4, 5, 6, 7].map((n) =>
      batches.join(storage, { n }).then((member) => {
        handed.push(n);
        return member;
      }),
    );
    await turns();
    expect(handed).toEqual([]);
    expect(storage.puts).toEqual([]);
    storage.release();
    const members = [await first, ...(await Promise.all(rest))];
    // At most three members a record here: the first alone, then 3, 3 and 1.
    expect(storage.puts.map((record) => record.members.length)).toEqual([1, 3, 3, 1]);
    expect(new Set(members.map((member) => member.recordId)).size).toBe(4);
    for (const member of members) await member.settle('released', storage);
    expect(await storage.records()).toEqual([]);
    expect(storage.deletes).toBe(4);
  });

  it('touches storage once every member settled: one delete when none is kept', async () => {
    const members = await joinedTogether([1, 2, 3]);
    const deletesBefore = storage.deletes;
    await members[0]!.settle('released', storage);
    await members[1]!.settle('closed', storage);
    expect(storage.deletes).toBe(deletesBefore);
    expect(await storage.records()).toEqual([[{ n: 1 }, { n: 2 }, { n: 3 }]]);
    await members[2]!.settle('released', storage);
    expect(storage.deletes).toBe(deletesBefore + 1);
    expect(await storage.records()).toEqual([]);
  });

  it('rewrites a record holding a kept member with that member alone', async () => {
    const members = await joinedTogether([1, 2, 3]);
    await members[1]!.settle('kept', storage);
    await members[0]!.settle('released', storage);
    await members[2]!.settle('closed', storage);
    expect(await storage.records()).toEqual([[{ n: 2 }]]);
    // Settling twice changes nothing.
    await members[1]!.settle('released', storage);
    expect(await storage.records()).toEqual([[{ n: 2 }]]);
    expect(batches.openRecords).toBe(0);
  });

  it('drops a released member from a record that still waits for others, after a while', async () => {
    batches = new WalBatches('test-kind', memoryLogger().logger, { releasedWaitMs: 30 });
    const members = await joinedTogether([1, 2, 3]);
    const putsBefore = storage.puts.length;
    await members[0]!.settle('released', storage);
    await members[1]!.settle('released', storage);
    expect(await storage.records()).toEqual([[{ n: 1 }, { n: 2 }, { n: 3 }]]);
    await new Promise((resolve) => setTimeout(resolve, 80));
    // One rewrite for both.
    expect(storage.puts.slice(putsBefore)).toEqual([{ members: [{ n: 3 }] }]);
    await members[2]!.settle('released', storage);
    expect(await storage.records()).toEqual([]);
  });

  it('at a flush, drops the members settled so far from records still open', async () => {
    const members = await joinedTogether([1, 2, 3]);
    await members[0]!.settle('released', storage);
    await members[1]!.settle('kept', storage);
    await batches.flush();
    expect(await storage.records()).toEqual([[{ n: 2 }, { n: 3 }]]);
    await members[2]!.settle('released', storage);
    expect(await storage.records()).toEqual([[{ n: 2 }]]);
  });

  it('waits at a flush for a write in flight', async () => {
    storage.hold();
    const joined = batches.join(storage, { n: 1 });
    let flushed = false;
    const flush = batches.flush().then(() => (flushed = true));
    await turns();
    expect(flushed).toBe(false);
    storage.release();
    await flush;
    await joined;
    expect(storage.puts).toHaveLength(1);
  });

  it('stops waiting at a flush for storage that never answers, and says so', async () => {
    storage.hold();
    const joined = batches.join(storage, { n: 1 });
    await batches.flush(50);
    expect(lines.join('\n')).toContain('stopped waiting for its journal records');
    // The write still lands when storage answers; the member is handed out then.
    storage.release();
    await joined;
    expect(storage.puts).toHaveLength(1);
  });

  it('fails every member of a record whose write failed, and serves later entries', async () => {
    storage.hold();
    const first = batches.join(storage, { n: 0 });
    const failing = [1, 2].map((n) => batches.join(storage, { n }));
    await turns();
    storage.failPuts = true;
    storage.release();
    await expect(first).rejects.toThrow('storage refused the put');
    for (const member of failing) await expect(member).rejects.toThrow('storage refused the put');
    storage.failPuts = false;
    const later = await batches.join(storage, { n: 3 });
    expect(storage.puts).toEqual([{ members: [{ n: 3 }] }]);
    await later.settle('released', storage);
  });

  it('logs a settlement storage refuses and leaves the record as it was, for the rollback', async () => {
    const member = await batches.join(storage, { n: 1 });
    storage.failDeletes = true;
    await member.settle('released', storage);
    expect(await storage.records()).toEqual([[{ n: 1 }]]);
    expect(lines.join('')).toContain('could not store the settlement of a journal record');
    expect(batches.openRecords).toBe(0);
  }, 10_000);

  /** Members of one record (after a first entry that holds the write). */
  async function joinedTogether(values: number[]): Promise<WalBatchMember[]> {
    storage.hold();
    const first = batches.join(storage, { n: 0 });
    const members = values.map((n) => batches.join(storage, { n }));
    await turns();
    storage.release();
    await (await first).settle('released', storage);
    const joined = await Promise.all(members);
    expect(new Set(joined.map((member) => member.recordId)).size).toBe(1);
    return joined;
  }
});
