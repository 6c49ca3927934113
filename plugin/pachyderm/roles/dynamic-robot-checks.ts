import { badRequest } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import type { Engine } from '../mount/engine';
import { PachdRelease } from '../pachd/release';
import { observationFor } from '../mount/pachd-observation';
import type { RobotNameTemplate } from './robot-name-template';
import { checkBindingsAtPachd } from './binding-checks';
import { checkRoleBindings, type RoleBinding } from './role-bindings';
import { checkSubject } from './subjects';
import { vaultErrorFromPachd } from '../mount/upstream-errors';

/** Vault display names are the auth method's prefix and the login's name: rarely longer. */
const SAMPLE_DISPLAY_NAME_LENGTH = 64;

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

  await checkBindingsAtPachd(authApi, config, observation, atPachd, `robot:${sample}`, reach);
}
