/**
 * @file
 * pachd 2.x's roles as the stand-in models them: auth_v2's permission and resource type numbers,
 * and which permissions each role holds in each release.
 */

import type { PachdVersion } from './pachd-version';

/** auth_v2.ResourceType numbers. */
export const RESOURCE_CLUSTER = 1;
export const RESOURCE_REPO = 2;
export const RESOURCE_PROJECT = 4;

/** auth_v2.Permission numbers the role catalogue, ModifyRoleBinding and the interceptor's cluster rules name. */
export const PERMISSION = {
  CLUSTER_MODIFY_BINDINGS: 100,
  CLUSTER_AUTH_DEACTIVATE: 103,
  CLUSTER_AUTH_EXTRACT_TOKENS: 112,
  CLUSTER_AUTH_RESTORE_TOKEN: 113,
  CLUSTER_AUTH_GET_ROBOT_TOKEN: 139,
  CLUSTER_AUTH_DELETE_EXPIRED_TOKENS: 140,
  CLUSTER_AUTH_GET_PERMISSIONS_FOR_PRINCIPAL: 141,
  CLUSTER_AUTH_REVOKE_USER_TOKENS: 142,
  CLUSTER_AUTH_ROTATE_ROOT_TOKEN: 147,
  REPO_READ: 200,
  REPO_WRITE: 201,
  REPO_MODIFY_BINDINGS: 202,
  REPO_DELETE: 203,
  REPO_INSPECT_COMMIT: 204,
  REPO_LIST_COMMIT: 205,
  REPO_DELETE_COMMIT: 206,
  REPO_CREATE_BRANCH: 207,
  REPO_LIST_BRANCH: 208,
  REPO_DELETE_BRANCH: 209,
  REPO_INSPECT_FILE: 210,
  REPO_LIST_FILE: 211,
  REPO_ADD_PIPELINE_READER: 212,
  REPO_REMOVE_PIPELINE_READER: 213,
  REPO_ADD_PIPELINE_WRITER: 214,
  PIPELINE_LIST_JOB: 301,
  PROJECT_SET_DEFAULTS: 303,
  PROJECT_CREATE: 400,
  PROJECT_DELETE: 401,
  PROJECT_LIST_REPO: 402,
  PROJECT_CREATE_REPO: 403,
  PROJECT_MODIFY_BINDINGS: 404,
} as const;

export interface ResourceMessage {
  type: number;
  name: string;
}

export interface RoleDefinition {
  permissions: readonly number[];
  permissionSet: ReadonlySet<number>;
  /** Resource types GetPermissions reports the role for (pachd's ReturnedFor). */
  returnedFor: readonly number[];
}

function role(permissions: readonly number[], returnedFor: readonly number[]): RoleDefinition {
  const unique = [...new Set(permissions)];
  return { permissions: unique, permissionSet: new Set(unique), returnedFor };
}

/**
 * pachd's role catalogue (src/server/auth/server/roles.go @ v2.11.6) for the roles the stand-in
 * models, by release: the project roles arrived with projects, projectOwner and projectCreator in
 * 2.5.0, projectViewer and projectWriter in 2.6.0. clusterAdmin is given every permission.
 */
export function roleCatalogue(version: PachdVersion, everyPermission: readonly number[]): Map<string, RoleDefinition> {
  const P = PERMISSION;
  const repoReader = [
    P.REPO_READ,
    P.REPO_INSPECT_COMMIT,
    P.REPO_LIST_COMMIT,
    P.REPO_LIST_BRANCH,
    P.REPO_LIST_FILE,
    P.REPO_INSPECT_FILE,
    P.REPO_ADD_PIPELINE_READER,
    P.REPO_REMOVE_PIPELINE_READER,
    P.PIPELINE_LIST_JOB,
  ];
  const repoWriter = [
    ...repoReader,
    P.REPO_WRITE,
    P.REPO_DELETE_COMMIT,
    P.REPO_CREATE_BRANCH,
    P.REPO_DELETE_BRANCH,
    P.REPO_ADD_PIPELINE_WRITER,
  ];
  const repoOwner = [...repoWriter, P.REPO_MODIFY_BINDINGS, P.REPO_DELETE];
  const projectViewer = [P.PROJECT_LIST_REPO];
  const projectWriter = [...projectViewer, P.PROJECT_CREATE_REPO];
  const roles = new Map<string, RoleDefinition>([
    ['clusterAdmin', role(everyPermission, [RESOURCE_CLUSTER, RESOURCE_PROJECT, RESOURCE_REPO])],
    ['robotUser', role([P.CLUSTER_AUTH_GET_ROBOT_TOKEN], [RESOURCE_CLUSTER])],
    ['repoReader', role(repoReader, [RESOURCE_REPO])],
    ['repoWriter', role(repoWriter, [RESOURCE_REPO])],
    ['repoOwner', role(repoOwner, [RESOURCE_REPO])],
  ]);
  if (version.isAtLeast(2, 5, 0)) {
    roles.set('projectCreator', role([P.PROJECT_CREATE], [RESOURCE_CLUSTER]));
    roles.set(
      'projectOwner',
      role(
        [...repoOwner, ...projectWriter, P.PROJECT_DELETE, P.PROJECT_MODIFY_BINDINGS, P.PROJECT_SET_DEFAULTS],
        [RESOURCE_PROJECT, RESOURCE_REPO],
      ),
    );
  }
  if (version.isAtLeast(2, 6, 0)) {
    roles.set('projectViewer', role(projectViewer, [RESOURCE_PROJECT]));
    roles.set('projectWriter', role(projectWriter, [RESOURCE_PROJECT]));
  }
  return roles;
}
