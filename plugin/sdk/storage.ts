/**
 * @file
 * The mount's view of Vault's storage: keys relative to the mount, values as bytes.
 * `list` returns the immediate children of a prefix; child "directories" end with `/`.
 */

export interface StorageEntry {
  key: string;
  value: Buffer;
  sealWrap?: boolean;
}

export interface Storage {
  list(prefix: string): Promise<string[]>;
  get(key: string): Promise<StorageEntry | undefined>;
  put(entry: StorageEntry): Promise<void>;
  delete(key: string): Promise<void>;
}

export async function getJson<T>(storage: Storage, key: string): Promise<T | undefined> {
  const entry = await storage.get(key);
  if (entry === undefined) return undefined;
  try {
    return JSON.parse(entry.value.toString('utf8')) as T;
  } catch (error) {
    throw new Error(`storage entry ${key} is not valid JSON: ${(error as Error).message}`);
  }
}

export async function putJson(
  storage: Storage,
  key: string,
  value: unknown,
  options: { sealWrap?: boolean } = {},
): Promise<void> {
  await storage.put({
    key,
    value: Buffer.from(JSON.stringify(value), 'utf8'),
    sealWrap: options.sealWrap ?? false,
  });
}

/** Storage in a Map, for unit tests and for the code paths that run without a host. */
export class InMemoryStorage implements Storage {
  readonly entries = new Map<string, StorageEntry>();

  async list(prefix: string): Promise<string[]> {
    const children = new Set<string>();
    for (const key of this.entries.keys()) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const slash = rest.indexOf('/');
      children.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    return [...children].sort();
  }

  async get(key: string): Promise<StorageEntry | undefined> {
    const entry = this.entries.get(key);
    return entry === undefined ? undefined : { ...entry, value: Buffer.from(entry.value) };
  }

  async put(entry: StorageEntry): Promise<void> {
    this.entries.set(entry.key, { ...entry, value: Buffer.from(entry.value) });
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }
}
