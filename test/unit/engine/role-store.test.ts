import { ROLE_PREFIX, saveRole, type Role } from '../../../plugin/pachyderm/roles/role';
import { MAX_CACHED_ROLES, RoleStore } from '../../../plugin/pachyderm/roles/role-store';
import { InMemoryStorage, type StorageEntry } from '../../../plugin/sdk/storage';

const ci: Role = { kind: 'subject', subject: 'robot:ci', ttlSeconds: 60, maxTtlSeconds: 0 };
const deploy: Role = { kind: 'subject', subject: 'robot:deploy', ttlSeconds: 0, maxTtlSeconds: 0 };

/** Storage that counts reads, and can hold the next read until told to answer. */
class WatchedStorage extends InMemoryStorage {
  reads = 0;
  private held: { release: () => void } | undefined;

  holdNextRead(): { release: () => void } {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.held = { release: () => release() };
    this.gate = gate;
    return this.held;
  }

  private gate: Promise<void> | undefined;

  override async get(key: string): Promise<StorageEntry | undefined> {
    this.reads += 1;
    const entry = await super.get(key);
    const gate = this.gate;
    this.gate = undefined;
    if (gate !== undefined) await gate;
    return entry;
  }
}

describe('the role store', () => {
  let storage: WatchedStorage;
  let roles: RoleStore;

  beforeEach(() => {
    storage = new WatchedStorage();
    roles = new RoleStore();
  });

  it('reads a role from storage once, then from memory', async () => {
    await saveRole(storage, 'ci', ci);
    expect(await roles.load(storage, 'ci')).toEqual(ci);
    expect(await roles.load(storage, 'ci')).toEqual(ci);
    expect(storage.reads).toBe(1);
  });

  it('does not remember a role that does not exist', async () => {
    expect(await roles.load(storage, 'nope')).toBeUndefined();
    await saveRole(storage, 'nope', ci);
    expect(await roles.load(storage, 'nope')).toEqual(ci);
  });

  it('hands out copies: a caller changing what it got does not change the role', async () => {
    const robot: Role = {
      kind: 'robot',
      bindings: [{ resource: { type: 'repo', name: 'default/images' }, roles: ['repoReader'] }],
      nameTemplate: undefined,
      ttlSeconds: 0,
      maxTtlSeconds: 0,
    };
    await roles.save(storage, 'robots', robot);
    const first = await roles.load(storage, 'robots');
    if (first?.kind !== 'robot') throw new Error('not a robot role');
    first.bindings[0]?.roles.push('repoOwner');
    first.bindings.length = 0;
    first.nameTemplate = 'changed';
    expect(await roles.load(storage, 'robots')).toEqual(robot);
  });

  it('hands out copies of a role read from storage too', async () => {
    await saveRole(storage, 'ci', ci);
    const first = await roles.load(storage, 'ci');
    if (first?.kind !== 'subject') throw new Error('not a fixed role');
    first.subject = 'robot:changed';
    expect(await roles.load(storage, 'ci')).toEqual(ci);
    expect(storage.reads).toBe(1);
  });

  it('keeps no role whose write a delete overtook', async () => {
    // The write reaches storage first, the delete after it, but the delete's reply comes back first.
    let finishWrite = (): void => undefined;
    const slowWrites = new WatchedStorage();
    const write = slowWrites.put.bind(slowWrites);
    slowWrites.put = async (entry) => {
      await write(entry);
      await new Promise<void>((resolve) => (finishWrite = resolve));
    };
    const saving = roles.save(slowWrites, 'ci', ci);
    await new Promise((resolve) => setImmediate(resolve));
    await roles.delete(slowWrites, 'ci');
    finishWrite();
    await saving;
    expect(slowWrites.entries.has(ROLE_PREFIX + 'ci')).toBe(false);
    expect(await roles.load(slowWrites, 'ci')).toBeUndefined();
  });

  it('serves a written role at once and forgets a deleted one', async () => {
    await roles.save(storage, 'ci', ci);
    expect(await roles.load(storage, 'ci')).toEqual(ci);
    expect(storage.reads).toBe(0);
    await roles.save(storage, 'ci', deploy);
    expect(await roles.load(storage, 'ci')).toEqual(deploy);
    await roles.delete(storage, 'ci');
    expect(await roles.load(storage, 'ci')).toBeUndefined();
    expect(storage.entries.has(ROLE_PREFIX + 'ci')).toBe(false);
  });

  it('reads afresh after another node changed the role, and ignores other keys', async () => {
    await roles.save(storage, 'ci', ci);
    await saveRole(storage, 'ci', deploy);
    roles.invalidate('config');
    roles.invalidate('static-role/ci');
    expect(await roles.load(storage, 'ci')).toEqual(ci);
    roles.invalidate(ROLE_PREFIX + 'ci');
    expect(await roles.load(storage, 'ci')).toEqual(deploy);
  });

  it('never brings back a role that a write replaced while an older read was in flight', async () => {
    await saveRole(storage, 'ci', ci);
    const held = storage.holdNextRead();
    const staleRead = roles.load(storage, 'ci');
    await roles.save(storage, 'ci', deploy);
    held.release();
    expect(await staleRead).toEqual(ci);
    expect(await roles.load(storage, 'ci')).toEqual(deploy);
  });

  it('never brings back a role deleted or invalidated while an older read was in flight', async () => {
    await saveRole(storage, 'ci', ci);
    let held = storage.holdNextRead();
    let staleRead = roles.load(storage, 'ci');
    await roles.delete(storage, 'ci');
    held.release();
    await staleRead;
    expect(await roles.load(storage, 'ci')).toBeUndefined();

    await saveRole(storage, 'ci', ci);
    held = storage.holdNextRead();
    staleRead = roles.load(storage, 'ci');
    await saveRole(storage, 'ci', deploy);
    roles.invalidate(ROLE_PREFIX + 'ci');
    held.release();
    await staleRead;
    expect(await roles.load(storage, 'ci')).toEqual(deploy);
  });

  it('remembers nothing of a write the storage refused', async () => {
    await roles.save(storage, 'ci', ci);
    const refusing = new WatchedStorage();
    refusing.put = async () => {
      throw new Error('cannot write to readonly storage');
    };
    await expect(roles.save(refusing, 'ci', deploy)).rejects.toThrow('readonly');
    expect(await roles.load(storage, 'ci')).toEqual(ci);
  });

  it('keeps at most MAX_CACHED_ROLES roles, forgetting the oldest first', async () => {
    for (let index = 0; index <= MAX_CACHED_ROLES; index += 1) await roles.save(storage, `r${index}`, ci);
    storage.reads = 0;
    await roles.load(storage, `r${MAX_CACHED_ROLES}`);
    await roles.load(storage, 'r1');
    expect(storage.reads).toBe(0);
    await roles.load(storage, 'r0');
    expect(storage.reads).toBe(1);
  });
});
