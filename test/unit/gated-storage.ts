import { InMemoryStorage, type StorageEntry } from '../../plugin/sdk/storage';
import { getWal, listWal, WAL_PREFIX } from '../../plugin/sdk/wal';
import type { WalBatchRecord } from '../../plugin/sdk/wal-batches';

/** Storage whose WAL puts wait while the test holds them, counting what reaches it. */
export class GatedStorage extends InMemoryStorage {
  puts: WalBatchRecord[] = [];
  deletes = 0;
  failPuts = false;
  failDeletes = false;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async put(entry: StorageEntry): Promise<void> {
    if (!entry.key.startsWith(WAL_PREFIX)) return super.put(entry);
    const gate = this.gate;
    if (gate !== undefined) await gate;
    if (this.failPuts) throw new Error('storage refused the put');
    this.puts.push((JSON.parse(entry.value.toString('utf8')) as { data: WalBatchRecord }).data);
    await super.put(entry);
  }

  override async delete(key: string): Promise<void> {
    if (!key.startsWith(WAL_PREFIX)) return super.delete(key);
    if (this.failDeletes) throw new Error('storage refused the delete');
    this.deletes += 1;
    await super.delete(key);
  }

  /** The values of every token a stored WAL entry names, now: read synchronously, as pachd acts. */
  journaledTokens(): Set<string> {
    const tokens = new Set<string>();
    for (const [key, entry] of this.entries) {
      if (!key.startsWith(WAL_PREFIX)) continue;
      const data = (
        JSON.parse(entry.value.toString('utf8')) as { data: { token?: string; members?: { token?: string }[] } }
      ).data;
      for (const named of [data, ...(data.members ?? [])]) if (named.token !== undefined) tokens.add(named.token);
    }
    return tokens;
  }

  async records(): Promise<unknown[][]> {
    const ids = await listWal(this);
    return Promise.all(ids.map(async (id) => (await getWal<WalBatchRecord>(this, id))?.data.members ?? []));
  }
}

/** Lets pending promise chains and timers of zero delay run. */
export async function turns(count = 10): Promise<void> {
  for (let turn = 0; turn < count; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}
