import { Redactor } from '../../../plugin/goplugin/redactor';
import { ConfigStore, CONFIG_KEY, type EngineConfig } from '../../../plugin/pachyderm/mount/config';
import { InMemoryStorage, putJson, type StorageEntry } from '../../../plugin/sdk/storage';

/** Storage whose reads of the configuration wait until the test lets them finish. */
class SlowReads extends InMemoryStorage {
  private readonly waiting: (() => void)[] = [];

  override async get(key: string): Promise<StorageEntry | undefined> {
    const slow = this.slow;
    const entry = await super.get(key);
    if (key !== CONFIG_KEY || !slow) return entry;
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    return entry;
  }

  slow = false;

  finishReads(): void {
    for (const resume of this.waiting.splice(0)) resume();
  }
}

function config(adminToken: string, address: string): EngineConfig {
  return {
    version: 1,
    pachd_address: address,
    admin_token: adminToken,
    ttl_seconds: 0,
    max_ttl_seconds: 0,
    pachd_tls_ca: '',
    request_timeout_seconds: 10,
    generation: 'auto',
  };
}

const request = (storage: InMemoryStorage) => ({ storage, cancelled: () => false, deadline: undefined });

describe('the configuration cache', () => {
  it('never stores what a read that began before a write found', async () => {
    const storage = new SlowReads();
    const store = new ConfigStore(new Redactor());
    await putJson(storage, CONFIG_KEY, config('old-admin-token-0001', 'grpc://old:30650'));
    storage.slow = true;
    const staleRead = store.load(storage);
    // The write runs while the read waits on storage (it reads the configuration itself, unhindered).
    storage.slow = false;
    await store.update(request(storage), async (_current, writer) =>
      writer.save(config('new-admin-token-0002', 'grpc://new:30650')),
    );
    storage.finishReads();
    await staleRead;
    expect((await store.load(storage))?.admin_token).toBe('new-admin-token-0002');
  });

  it('never stores what a read that began before an invalidation found', async () => {
    const storage = new SlowReads();
    const store = new ConfigStore(new Redactor());
    await putJson(storage, CONFIG_KEY, config('old-admin-token-0001', 'grpc://old:30650'));
    storage.slow = true;
    const staleRead = store.load(storage);
    // Another node wrote a new configuration, and Vault told this one.
    await putJson(storage, CONFIG_KEY, config('new-admin-token-0002', 'grpc://new:30650'));
    store.invalidate();
    storage.finishReads();
    await staleRead;
    storage.slow = false;
    expect((await store.load(storage))?.admin_token).toBe('new-admin-token-0002');
  });

  it('keeps only the admin token it holds secret, and lets go of a replaced one', async () => {
    const storage = new InMemoryStorage();
    const redactor = new Redactor();
    const store = new ConfigStore(redactor);
    for (let index = 0; index < 50; index += 1) {
      await store.update(request(storage), async (_current, writer) =>
        writer.save(config(`admin-token-${String(index).padStart(4, '0')}`, 'grpc://pachd:30650')),
      );
    }
    expect(redactor.size).toBe(1);
    expect(redactor.scrub('admin-token-0049 admin-token-0048')).toBe('[REDACTED] admin-token-0048');
    await store.update(request(storage), async (_current, writer) => writer.delete());
    expect(redactor.size).toBe(0);
  });

  it('keeps what a writer protects secret only while the writer runs', async () => {
    const storage = new InMemoryStorage();
    const redactor = new Redactor();
    const store = new ConfigStore(redactor);
    await store.update(request(storage), async (_current, writer) => {
      writer.protect('candidate-token-1234');
      expect(redactor.scrub('candidate-token-1234')).toBe('[REDACTED]');
    });
    expect(redactor.size).toBe(0);
  });
});
