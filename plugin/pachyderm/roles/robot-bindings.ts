/**
 * @file
 * Giving a dynamic robot its role bindings, and taking the robot apart again: its tokens, then
 * each binding. Both directions are idempotent, so a lease revocation, a failed issuance and the
 * rollback of an interrupted one all use the same removal, however far the creation got.
 */

import { codedError } from '../../sdk/errors';
import type { EngineConfig } from '../mount/config';
import type { Engine } from '../mount/engine';
import type { TokenHome } from '../mount/pachd-clients';
import type { PachdAuthApi } from '../pachd/auth-api';
import { PachdError } from '../pachd/errors';
import { formatResource, type RoleBinding } from './role-bindings';
import type { Storage } from '../../sdk/storage';
import { reachHome } from '../mount/token-home';

/** A dynamic robot as its lease or journal knows it. */
export interface DynamicRobot extends TokenHome {
  subject: string;
  bindings: readonly RoleBinding[];
  /** The token's value, when known. */
  token?: string | undefined;
}

/** What removal found at pachd, for the logs. */
export interface RobotRemoval {
  /** Tokens revoked: a count, or 'unknown' when pachd does not say. */
  tokensRevoked: number | 'unknown';
  bindingsRemoved: number;
  /** Bindings pachd no longer had because their repo or project is gone. */
  resourcesGone: number;
}

export async function addRoleBindings(
  authApi: PachdAuthApi,
  adminToken: string,
  subject: string,
  bindings: readonly RoleBinding[],
): Promise<void> {
  // Each binding is on its own resource (role-bindings.ts merges entries on one), so the writes
  // do not depend on each other: sent together, the robot waits for one round trip instead of one
  // per binding (the bound on writes in flight still applies to each). Every call settles before
  // this returns, so nothing of this request can land at pachd after a failure is handled; the
  // failure reported is one that may have applied at pachd when there is one, so the caller keeps
  // its journal for the rollback.
  const outcomes = await Promise.allSettled(
    bindings.map((binding) => authApi.setRoles(adminToken, binding.resource, subject, binding.roles)),
  );
  const failures = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
  if (failures.length === 0) return;
  throw failures.find((error) => !(error instanceof PachdError) || error.mayHaveApplied) ?? failures[0];
}

/**
 * Revokes every token of the robot and removes every binding it was given. When the admin token
 * cannot do it (it goes to no other pachd than the configured one, and it may have expired or been
 * revoked), the robot's token is still revoked by its own value, and the error names the bindings
 * left and how to remove them by hand; the caller keeps what covers the robot and tries again.
 */
export async function removeDynamicRobot(
  engine: Engine,
  storage: Storage,
  config: EngineConfig | undefined,
  robot: DynamicRobot,
  deadline?: number,
): Promise<RobotRemoval> {
  const { authApi, adminTokenGoesThere } = await reachHome(engine, storage, config, robot, deadline);
  if (config === undefined || !adminTokenGoesThere) {
    // The admin token goes to no other pachd: the token can still revoke itself, the bindings stay.
    if (robot.token !== undefined) await authApi.revokeAsItself(robot.token);
    throw bindingsLeft(
      robot,
      robot.bindings,
      config === undefined
        ? 'the engine is not configured, so it holds no admin token to remove them with'
        : 'the engine is now configured for another pachd (or another CA), and its admin token goes nowhere else',
    );
  }
  const adminRefused = () =>
    'the admin token no longer works at pachd (expired or revoked); write config with a working admin_token';
  let tokensRevoked: number | 'unknown';
  try {
    tokensRevoked = await revokeTokens(config, authApi, robot);
  } catch (error) {
    if (!isUnauthenticated(error)) throw error;
    if (robot.token !== undefined) await authApi.revokeAsItself(robot.token);
    throw bindingsLeft(robot, robot.bindings, adminRefused());
  }
  let bindingsRemoved = 0;
  let resourcesGone = 0;
  for (const [index, binding] of robot.bindings.entries()) {
    try {
      await authApi.setRoles(config.admin_token, binding.resource, robot.subject, []);
      bindingsRemoved += 1;
    } catch (error) {
      if (isUnauthenticated(error)) throw bindingsLeft(robot, robot.bindings.slice(index), adminRefused());
      // A binding on a deleted repo or project went with it.
      if (!(error instanceof PachdError) || error.failure !== 'resource-not-found') throw error;
      resourcesGone += 1;
      engine.logger.debug("a dynamic robot's binding went with its resource", {
        subject: robot.subject,
        resource: formatResource(binding.resource),
      });
    }
  }
  return { tokensRevoked, bindingsRemoved, resourcesGone };
}

/**
 * On 2.x one call revokes every token of the robot, whether or not this engine ever saw its value
 * (pachd generated it and the answer was lost). Without that permission, or on 1.x, the token
 * this engine holds is revoked by value.
 */
async function revokeTokens(
  config: EngineConfig,
  authApi: PachdAuthApi,
  robot: DynamicRobot,
): Promise<number | 'unknown'> {
  try {
    const revoked = await authApi.revokeTokensOf(config.admin_token, robot.subject);
    if (revoked !== 'unsupported') return revoked;
  } catch (error) {
    if (!(error instanceof PachdError) || error.failure !== 'permission-denied') throw error;
  }
  if (robot.token === undefined) return 0;
  const outcome = await authApi.revoke(config.admin_token, robot.token);
  return outcome === 'unknown' ? 'unknown' : outcome === 'revoked' ? 1 : 0;
}

function isUnauthenticated(error: unknown): boolean {
  return error instanceof PachdError && error.failure === 'unauthenticated';
}

/** The robot's token is gone (when its value is known) but these bindings stay until someone removes them. */
function bindingsLeft(robot: DynamicRobot, bindings: readonly RoleBinding[], why: string): Error {
  const commands = bindings.map((binding) => removalCommand(binding, robot.subject)).join('; ');
  return codedError(
    502,
    `cannot remove the role bindings of ${robot.subject} at pachd ${robot.pachd_address}: ${why}` +
      `${robot.token === undefined ? '' : ' (its token was revoked)'}. This is retried; or remove them by hand ` +
      `(${commands}) and revoke the lease with -force`,
  );
}

/** What an operator runs to remove one binding by hand, in pachctl's words. */
function removalCommand(binding: RoleBinding, subject: string): string {
  const { type, name } = binding.resource;
  if (type === 'cluster') return `pachctl auth set cluster none ${subject}`;
  const [project, repo] = name.split('/');
  if (type === 'repo' && repo !== undefined)
    return `pachctl auth set repo ${repo} none ${subject} --project ${project}`;
  return `pachctl auth set ${type} ${name} none ${subject}`;
}
