import { badRequest } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import type { Engine } from '../mount/engine';
import { PachdError } from '../pachd/errors';
import { PachdRelease } from '../pachd/release';
import { observationFor } from '../mount/pachd-observation';
import type { RobotNameTemplate } from './robot-name-template';
import { checkRoleBindings, formatResource, type RoleBinding } from './role-bindings';
import { checkSubject } from './subjects';
import { vaultErrorFromPachd } from '../mount/upstream-errors';

/** Vault display names are the auth method's prefix and the login's name: rarely longer. */
const SAMPLE_DISPLAY_NAME_LENGTH = 64;

/** What each binding's resource type needs of whoever changes its bindings, in pachd's roles. */
const GRANTORS: Readonly<Record<RoleBinding['resource']['type'], string>> = {
  cluster: 'clusterAdmin (CLUSTER_MODIFY_BINDINGS)',
  project: 'projectOwner on it or clusterAdmin (PROJECT_MODIFY_BINDINGS)',
  repo: "repoOwner on it or clusterAdmin (REPO_MODIFY_BINDINGS; 1.x: an admin or the repo's OWNER)",
};

/**
 * A dynamic robot role is checked against the configured pachd when written, so that a read
 * cannot fail halfway for a reason known in advance: each role must exist and bind on its
 * resource, each resource must exist, the admin token must be allowed to grant there, and the
 * robot names the template makes must fit pachd's subjects.
 */
export async function checkDynamicRobotRole(
  engine: Engine,
  request: Request,
  roleName: string,
  bindings: readonly RoleBinding[],
  template: RobotNameTemplate,
): Promise<void> {
  const config = await engine.configs.load(request.storage);
  if (config === undefined) {
    throw badRequest('write config first: a dynamic robot role is checked against pachd when it is written');
  }
  const reach = (error: unknown) => vaultErrorFromPachd(error, 'cannot check the role bindings at pachd');
  const authApi = await engine.pachd.configuredAuthApi(config, request.deadline).catch((error: unknown) => {
    throw reach(error);
  });
  const observation = await observationFor(engine, config, request.deadline).catch((error: unknown) => {
    throw reach(error);
  });
  const release = PachdRelease.parse(observation.pachd_version);
  const atPachd = checkRoleBindings(bindings, authApi.generation, release);

  // A name made for a caller with a long display name must fit too, or reads would fail later.
  const sample = template.render({ roleName, displayName: 'd'.repeat(SAMPLE_DISPLAY_NAME_LENGTH) });
  try {
    checkSubject(`robot:${sample}`, authApi.generation, release);
  } catch (error) {
    throw badRequest(
      `robot_name_template makes names too long for this pachd, e.g. for a caller whose display name has ` +
        `${SAMPLE_DISPLAY_NAME_LENGTH} characters (${(error as Error).message}); shorten it, or truncate .DisplayName`,
    );
  }

  for (const binding of atPachd) {
    const shown = formatResource(binding.resource);
    const refusedBinding = () =>
      badRequest(
        `the engine's admin token (${observation.admin_subject}) may not change role bindings on ${shown}: ` +
          `it needs ${GRANTORS[binding.resource.type]}`,
      );
    try {
      if (authApi.generation === 1) {
        // 1.x answers binding reads for a missing repo as for an empty one; removing a binding
        // nobody holds (this role's next robot, which does not exist yet) is refused for a
        // missing repo, and for a caller who may not change the repo's scopes, and changes nothing.
        await authApi.setRoles(config.admin_token, binding.resource, `robot:${sample}`, []);
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
      throw reach(error);
    }
  }
}
