/**
 * @file
 * Whether pachd will take a set of role bindings for a robot: each resource exists and the
 * admin token may change its bindings. Asked before a role that grants them is stored, so that a
 * binding pachd would refuse is a 400 for the write, not a failure at each later issuance or
 * rotation.
 */

import { badRequest } from '../../sdk/errors';
import type { EngineConfig, PachdObservation } from '../mount/config';
import type { PachdAuthApi } from '../pachd/auth-api';
import { PachdError } from '../pachd/errors';
import { formatResource, type RoleBinding } from './role-bindings';

/** What each binding's resource type needs of whoever changes its bindings, in pachd's roles. */
const GRANTORS: Readonly<Record<RoleBinding['resource']['type'], string>> = {
  cluster: 'clusterAdmin (CLUSTER_MODIFY_BINDINGS)',
  project: 'projectOwner on it or clusterAdmin (PROJECT_MODIFY_BINDINGS)',
  repo: "repoOwner on it or clusterAdmin (REPO_MODIFY_BINDINGS; 1.x: an admin or the repo's OWNER)",
};

/**
 * Checks bindings already in pachd's terms (checkRoleBindings). `probe` is a subject that holds
 * nothing at pachd: on 1.x the check removes its (absent) binding, which changes nothing.
 * `unreachable` turns a failure to ask into the caller's error.
 */
export async function checkBindingsAtPachd(
  authApi: PachdAuthApi,
  config: EngineConfig,
  observation: PachdObservation,
  bindings: readonly RoleBinding[],
  probe: string,
  unreachable: (error: unknown) => unknown,
): Promise<void> {
  for (const binding of bindings) {
    const shown = formatResource(binding.resource);
    const refusedBinding = () =>
      badRequest(
        `the engine's admin token (${observation.admin_subject}) may not change role bindings on ${shown}: ` +
          `it needs ${GRANTORS[binding.resource.type]}`,
      );
    try {
      if (authApi.generation === 1) {
        // 1.x answers binding reads for a missing repo as for an empty one; removing a binding
        // nobody holds is refused for a missing repo, and for a caller who may not change the
        // repo's scopes, and changes nothing.
        await authApi.setRoles(config.admin_token, binding.resource, probe, []);
        continue;
      }
      // 2.x's GetPermissions answers both questions: it fails for a missing repo or project
      // ("no role binding exists"), even for an admin, and otherwise lists *_MODIFY_BINDINGS.
      if (!(await authApi.canModifyBindings(config.admin_token, binding.resource))) throw refusedBinding();
    } catch (error) {
      if (error instanceof PachdError && error.failure === 'resource-not-found') {
        throw badRequest(`${shown} does not exist at pachd ${config.pachd_address} (${error.detail})`);
      }
      if (error instanceof PachdError && error.failure === 'permission-denied') throw refusedBinding();
      throw unreachable(error);
    }
  }
}
