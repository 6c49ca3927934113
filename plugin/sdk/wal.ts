/**
 * @file
 * A write-ahead log for side effects outside Vault. Write an entry before touching the outside
 * world, delete it once Vault holds what it needs; an entry that outlives its work means the
 * work was interrupted, and the rollback tick hands it to the backend's rollback function.
 * Entries live under `wal/`, which a backend should list as local (unreplicated) storage.
 */

import { randomUUID } from 'node:crypto';
import { getJson, putJson, type Storage } from './storage';

export const WAL_PREFIX = 'wal/';

export interface WalEntry<T = Record<string, unknown>> {
  id: string;
  kind: string;
  data: T;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

export async function putWal<T>(
  storage: Storage,
  kind: string,
  data: T,
  now: number = Date.now(),
): Promise<WalEntry<T>> {
  const entry: WalEntry<T> = { id: randomUUID(), kind, data, createdAt: now };
  await putJson(storage, WAL_PREFIX + entry.id, entry);
  return entry;
}

export async function getWal<T = Record<string, unknown>>(
  storage: Storage,
  id: string,
): Promise<WalEntry<T> | undefined> {
  return getJson<WalEntry<T>>(storage, WAL_PREFIX + id);
}

export async function deleteWal(storage: Storage, id: string): Promise<void> {
  await storage.delete(WAL_PREFIX + id);
}

export async function listWal(storage: Storage): Promise<string[]> {
  return (await storage.list(WAL_PREFIX)).filter((key) => !key.endsWith('/'));
}

/** Replaces an entry's data, keeping its id, kind and age. */
export async function updateWal<T>(storage: Storage, entry: WalEntry<T>, data: T): Promise<WalEntry<T>> {
  const updated = { ...entry, data };
  await putJson(storage, WAL_PREFIX + entry.id, updated);
  return updated;
}
