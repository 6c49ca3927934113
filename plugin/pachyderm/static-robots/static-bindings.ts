/**
 * @file
 * The role bindings a static robot holds at pachd: granted when its role is written (and again at
 * each rotation, so a binding someone removed by hand comes back), removed when the role drops
 * them or is deleted.
 */

import type { EngineConfig } from '../mount/config';
import type { PachdAuthApi } from '../pachd/auth-api';
import { PachdError } from '../pachd/errors';
import type { PachdRelease } from '../pachd/release';
import { addRoleBindings } from '../roles/robot-bindings';
import { checkRoleBindings, type RoleBinding } from '../roles/role-bindings';

/** Grants the bindings, in the terms of the pachd at hand. */
export async function grantStaticBindings(
  authApi: PachdAuthApi,
  config: EngineConfig,
  release: PachdRelease | undefined,
  subject: string,
  bindings: readonly RoleBinding[],
): Promise<void> {
  if (bindings.length === 0) return;
  await addRoleBindings(authApi, config.admin_token, subject, checkRoleBindings(bindings, authApi.generation, release));
}

/** Removes the bindings; one whose repo or project is gone went with it. */
export async function removeStaticBindings(
  authApi: PachdAuthApi,
  config: EngineConfig,
  release: PachdRelease | undefined,
  subject: string,
  bindings: readonly RoleBinding[],
): Promise<void> {
  if (bindings.length === 0) return;
  for (const binding of checkRoleBindings(bindings, authApi.generation, release)) {
    try {
      await authApi.setRoles(config.admin_token, binding.resource, subject, []);
    } catch (error) {
      if (!(error instanceof PachdError) || error.failure !== 'resource-not-found') throw error;
    }
  }
}

/** The resources of `before` that `after` no longer binds: what an update must remove. */
export function droppedBindings(before: readonly RoleBinding[], after: readonly RoleBinding[]): RoleBinding[] {
  const key = (binding: RoleBinding) => `${binding.resource.type}:${binding.resource.name}`;
  const kept = new Set(after.map(key));
  return before.filter((binding) => !kept.has(key(binding)));
}
