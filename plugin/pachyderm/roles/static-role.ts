/**
 * @file
 * A static robot role as stored under `static-role/<name>` (seal-wrapped: it holds live tokens):
 * a fixed pachd robot, the bindings the engine granted it, when its token is rotated, and the
 * tokens it has at pachd now: the current one, and earlier ones waiting out their grace.
 */

import { getJson, putJson, type Storage } from '../../sdk/storage';
import type { RotationSettings, RotationState } from '../mount/config';
import type { TokenHome } from '../mount/pachd-clients';
import type { RoleBinding } from './role-bindings';

export const STATIC_ROLE_PREFIX = 'static-role/';

/** A token of a static robot, where it lives and when pachd expires it. */
export interface StaticToken extends TokenHome {
  token: string;
  /** ISO; null never (the engine always asks for an expiry, see static-lifetime.ts). */
  expires_at: string | null;
}

/** A token replaced by a rotation, revoked once its grace ends. */
export interface RetiringToken extends StaticToken {
  /** ISO: the first rollback tick at or after this time revokes it. */
  revoke_at: string;
}

export interface StoredStaticRole extends RotationSettings {
  version: number;
  /**
   * Random per creation: a journal entry of a deleted role never acts on a new role written under
   * the same name.
   */
  id: string;
  /** `robot:<name>`. */
  subject: string;
  /** As written (project/repo), put in pachd's terms at each use. */
  role_bindings: RoleBinding[];
  /** Bindings an update took away that pachd may still hold: removed by the next tick or rotation. */
  stale_bindings?: RoleBinding[];
  /**
   * An update changed role_bindings and pachd may not hold them yet (the grant failed, or the
   * process died before it): granted by the next tick or rotation.
   */
  grant_pending?: boolean;
  /** How long a replaced token keeps working; 0: revoked at once. */
  rotation_grace_seconds: number;
  rotation?: RotationState;
  current?: StaticToken & { issued_at: string };
  retiring?: RetiringToken[];
  /** A delete began (static-delete.ts); the role serves nothing and the tick finishes it. */
  deleting?: boolean;
}

export async function loadStaticRole(storage: Storage, name: string): Promise<StoredStaticRole | undefined> {
  return getJson<StoredStaticRole>(storage, STATIC_ROLE_PREFIX + name);
}

export async function saveStaticRole(storage: Storage, name: string, role: StoredStaticRole): Promise<void> {
  await putJson(storage, STATIC_ROLE_PREFIX + name, { ...role, version: 1 }, { sealWrap: true });
}

export async function deleteStaticRole(storage: Storage, name: string): Promise<void> {
  await storage.delete(STATIC_ROLE_PREFIX + name);
}

export async function listStaticRoles(storage: Storage): Promise<string[]> {
  return (await storage.list(STATIC_ROLE_PREFIX)).filter((key) => !key.endsWith('/'));
}

/** Every token of the role pachd may still hold. */
export function tokensOf(role: StoredStaticRole): StaticToken[] {
  return [...(role.current === undefined ? [] : [role.current]), ...(role.retiring ?? [])];
}

/** The name of a static role whose subject `matches`, if any. */
export async function staticRoleWhere(
  storage: Storage,
  matches: (subject: string) => boolean,
): Promise<string | undefined> {
  for (const name of await listStaticRoles(storage)) {
    const role = await loadStaticRole(storage, name);
    if (role !== undefined && matches(role.subject)) return name;
  }
  return undefined;
}
