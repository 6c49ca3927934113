import type { Storage } from '../../sdk/storage';
import { loadRole, ROLE_PREFIX, saveRole, type Role } from './role';

/**
 * At most this many roles are kept parsed; past it the oldest is forgotten (and read again when
 * asked for). Roles are written by operators, so a mount rarely has more, and the bound keeps a
 * writer who creates many roles from growing the shared process's memory through the cache.
 */
export const MAX_CACHED_ROLES = 10_000;

/**
 * The mount's roles (`roles/<name>`), kept parsed after their first read so that `creds/<role>`
 * costs no storage call: a role changes only through this store on this node, or on another node,
 * which the host reports as an invalidation of its key.
 *
 * Versioned as the configuration's cache is: a read that began before a write, a delete or an
 * invalidation finished stores nothing, so a role replaced or deleted meanwhile is never brought
 * back. A role not found is not remembered: reads of names that do not exist cost their storage
 * call, and cannot fill the cache.
 */
export class RoleStore {
  private readonly cached = new Map<string, Role>();
  /** Bumped by every change of what the cache should hold. */
  private version = 0;

  async load(storage: Storage, name: string): Promise<Role | undefined> {
    const hit = this.cached.get(name);
    if (hit !== undefined) return structuredClone(hit);
    const versionAtStart = this.version;
    const role = await loadRole(storage, name);
    if (role !== undefined && this.version === versionAtStart) this.remember(name, structuredClone(role));
    return role;
  }

  async save(storage: Storage, name: string, role: Role): Promise<void> {
    this.forget(name);
    const versionAtStart = this.version;
    // A failed write may still have stored the role: nothing is remembered, the next read asks.
    await saveRole(storage, name, role);
    // A delete (or an invalidation) that finished while this write was in flight may have been
    // applied after it: storage then holds no role, and neither may the cache.
    if (this.version === versionAtStart) this.remember(name, structuredClone(role));
  }

  async delete(storage: Storage, name: string): Promise<void> {
    this.forget(name);
    await storage.delete(ROLE_PREFIX + name);
    this.forget(name);
  }

  /** Another node changed a storage key; forgets the role it names, if it names one. */
  invalidate(key: string): void {
    if (key.startsWith(ROLE_PREFIX)) this.forget(key.slice(ROLE_PREFIX.length));
  }

  private forget(name: string): void {
    this.version += 1;
    this.cached.delete(name);
  }

  private remember(name: string, role: Role): void {
    if (this.cached.size >= MAX_CACHED_ROLES) {
      const oldest = this.cached.keys().next();
      if (oldest.done !== true) this.cached.delete(oldest.value);
    }
    this.cached.set(name, role);
  }
}
