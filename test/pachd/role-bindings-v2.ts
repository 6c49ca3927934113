import * as grpc from '@grpc/grpc-js';

import type { ResourceBindingView } from './pachd-emulation';
import { PachdStatusError, plainGoError } from './pachd-status';
import type { PachdVersion } from './pachd-version';
import {
  PERMISSION,
  RESOURCE_CLUSTER,
  RESOURCE_PROJECT,
  RESOURCE_REPO,
  roleCatalogue,
  type ResourceMessage,
  type RoleDefinition,
} from './role-catalogue-v2';

export const ALL_CLUSTER_USERS = 'allClusterUsers';
const DEFAULT_PROJECT = 'default';

/** One principal → roles table: pachd's auth.role_bindings row for one resource. */
type Binding = Map<string, Set<string>>;

interface Evaluation {
  satisfied: number[];
  missing: number[];
  /** Every role met on the way, whatever resource type it is returned for. */
  roles: Set<string>;
}

/**
 * pachd 2.x role bindings (auth.role_bindings, one row per resource) and the pfs side the stand-in
 * needs for them: which projects and repos exist. Evaluation follows evaluateRoleBindingInTransaction
 * (src/server/auth/server/api_server.go @ v2.11.6): the cluster binding first, then for a repo its
 * project's binding (2.5+), then the resource's own; the principal's entries and allClusterUsers'
 * count, groups are not modelled. A role's whole permission set counts wherever it is bound
 * (pachd never checks CanBeBoundTo).
 */
export class RoleBindingsV2 {
  readonly roles: ReadonlyMap<string, RoleDefinition>;
  private readonly cluster: Binding = new Map();
  /** Keyed by pachd's ResourceKey: `PROJECT:<name>`, `REPO:<project>/<repo>` (`REPO:<repo>` before 2.5). */
  private readonly resources = new Map<string, Binding>();
  private readonly projects = new Set<string>();
  private readonly repos = new Set<string>();

  constructor(
    private readonly version: PachdVersion,
    private readonly permissionNames: ReadonlyMap<number, string>,
    private readonly resourceTypeNames: ReadonlyMap<number, string>,
  ) {
    const everyPermission = [...permissionNames.keys()].filter((number) => number !== 0);
    this.roles = roleCatalogue(version, everyPermission);
    if (this.hasProjects) this.projects.add(DEFAULT_PROJECT);
  }

  /** Projects (and `project/repo` names) arrived in 2.5.0. */
  get hasProjects(): boolean {
    return this.version.isAtLeast(2, 5, 0);
  }

  /**
   * Activate's bindings: the cluster binding of the release, and (as pfs's ActivateAuth does) an
   * empty binding for every project and repo that lacks one; the default project's grants
   * allClusterUsers projectWriter from 2.6.0 (clusterstate v2.6.0 migration).
   */
  activate(rootUser: string, internalUser: string): void {
    this.cluster.clear();
    this.cluster.set(rootUser, new Set(['clusterAdmin']));
    if (this.hasProjects) {
      this.cluster.set(internalUser, new Set(['clusterAdmin']));
      this.cluster.set(ALL_CLUSTER_USERS, new Set(['projectCreator']));
    }
    for (const project of this.projects) {
      const key = this.key({ type: RESOURCE_PROJECT, name: project });
      if (this.resources.has(key)) continue;
      const binding: Binding = new Map();
      if (project === DEFAULT_PROJECT && this.version.isAtLeast(2, 6, 0)) {
        binding.set(ALL_CLUSTER_USERS, new Set(['projectWriter']));
      }
      this.resources.set(key, binding);
    }
    for (const repo of this.repos) {
      const key = this.key({ type: RESOURCE_REPO, name: repo });
      if (!this.resources.has(key)) this.resources.set(key, new Map());
    }
  }

  /** Deactivate deletes every role binding; projects and repos stay. */
  wipe(): void {
    this.cluster.clear();
    this.resources.clear();
  }

  // ---- evaluation ----

  /** Authorize: which of `permissions` the principal holds on the resource. */
  authorize(principal: string, resource: ResourceMessage, permissions: readonly number[]): Evaluation {
    return this.evaluate(principal, resource, new Set(permissions));
  }

  holdsClusterPermission(principal: string, permission: number): boolean {
    return this.authorize(principal, { type: RESOURCE_CLUSTER, name: '' }, [permission]).missing.length === 0;
  }

  /**
   * GetPermissionsForPrincipal: pachd asks for every Permission, PERMISSION_UNKNOWN included,
   * which no role holds, so evaluation never stops early and a missing project or repo binding is
   * always reported. Roles and permissions are those of roles returned for the resource's type.
   */
  permissionsOf(principal: string, resource: ResourceMessage): { permissions: number[]; roles: string[] } {
    const evaluation = this.evaluate(principal, resource, new Set([0, ...this.permissionNames.keys()]));
    const roles = [...evaluation.roles]
      .filter((name) => this.roles.get(name)?.returnedFor.includes(resource.type) ?? false)
      .sort();
    const permissions: number[] = [];
    for (const name of roles) permissions.push(...(this.roles.get(name)?.permissions ?? []));
    return { permissions, roles };
  }

  private evaluate(principal: string, resource: ResourceMessage, wanted: Set<number>): Evaluation {
    const evaluation: Evaluation = { satisfied: [], missing: [], roles: new Set() };
    const apply = (binding: Binding): void => {
      for (const holder of [principal, ALL_CLUSTER_USERS]) {
        for (const name of binding.get(holder) ?? []) {
          if (evaluation.roles.has(name)) continue;
          evaluation.roles.add(name);
          for (const permission of this.roles.get(name)?.permissions ?? []) {
            if (wanted.delete(permission)) evaluation.satisfied.push(permission);
          }
        }
      }
    };
    const finish = (): Evaluation => ({ ...evaluation, missing: [...wanted] });
    apply(this.cluster);
    if (wanted.size === 0 || resource.type === RESOURCE_CLUSTER) return finish();
    if (resource.type === RESOURCE_REPO && this.hasProjects) {
      const parts = resource.name.split('/');
      if (parts.length !== 2) throw plainGoError(`invalid resource name ${resource.name}`);
      const project: ResourceMessage = { type: RESOURCE_PROJECT, name: parts[0] ?? '' };
      const projectBinding = this.resources.get(this.key(project));
      if (projectBinding === undefined) throw this.noRoleBinding(project);
      apply(projectBinding);
      if (wanted.size === 0) return finish();
    }
    const binding = this.resources.get(this.key(resource));
    if (binding === undefined) throw this.noRoleBinding(resource);
    apply(binding);
    return finish();
  }

  // ---- RPCs (the caller is already authenticated) ----

  /** ModifyRoleBindingInTransaction @ v2.11.6, step by step. */
  modify(caller: string, resource: ResourceMessage, principal: string, roles: readonly string[]): void {
    checkCanonicalSubject(principal);
    if (principal.startsWith('pach:') && resource.type === RESOURCE_CLUSTER) {
      throw plainGoError('cannot modify cluster role bindings for pach: users');
    }
    const permission = this.modifyPermission(resource.type);
    if (permission === undefined) {
      throw plainGoError(`unknown resource type ${this.typeName(resource.type)}`);
    }
    if (this.authorize(caller, resource, [permission]).missing.length > 0) {
      throw this.notAuthorized(caller, [permission], resource);
    }
    for (const name of roles) {
      if (!this.roles.has(name)) throw plainGoError(`unknown role ${JSON.stringify(name)}`);
    }
    const binding = resource.type === RESOURCE_CLUSTER ? this.cluster : this.resources.get(this.key(resource));
    if (binding === undefined) throw this.noRoleBinding(resource);
    if (roles.length === 0) binding.delete(principal);
    else binding.set(principal, new Set(roles));
  }

  /** GetRoleBinding: a resource without a binding answers empty entries, not an error. */
  get(resource: ResourceMessage): { binding: { entries: Record<string, { roles: Record<string, boolean> }> } } {
    const binding = resource.type === RESOURCE_CLUSTER ? this.cluster : this.resources.get(this.key(resource));
    const entries: Record<string, { roles: Record<string, boolean> }> = {};
    for (const [principal, roles] of binding ?? []) {
      entries[principal] = { roles: Object.fromEntries([...roles].map((name) => [name, true])) };
    }
    return { binding: { entries } };
  }

  /** ErrNotAuthorized; a status of its own (PermissionDenied) from 2.7.0, Unknown before. */
  notAuthorized(principal: string, permissions: readonly number[], resource: ResourceMessage): PachdStatusError {
    const names = permissions.map((number) => this.permissionNames.get(number) ?? String(number));
    const message =
      `${principal} is not authorized to perform this operation - needs permissions ` +
      `[${names.join(' ')}] on ${this.typeName(resource.type)} ${resource.name}. Run \`pachctl auth ` +
      'roles-for-permission` to find roles that grant a given permission.';
    return new PachdStatusError(
      this.version.isAtLeast(2, 7, 0) ? grpc.status.PERMISSION_DENIED : grpc.status.UNKNOWN,
      message,
    );
  }

  noRoleBinding(resource: ResourceMessage): PachdStatusError {
    return plainGoError(`no role binding exists for ${this.typeName(resource.type)} ${resource.name}`);
  }

  private modifyPermission(type: number): number | undefined {
    if (type === RESOURCE_CLUSTER) return PERMISSION.CLUSTER_MODIFY_BINDINGS;
    if (type === RESOURCE_REPO) return PERMISSION.REPO_MODIFY_BINDINGS;
    if (type === RESOURCE_PROJECT && this.hasProjects) return PERMISSION.PROJECT_MODIFY_BINDINGS;
    return undefined;
  }

  /** Go prints an enum by name, and by number for a value the release does not know. */
  private typeName(type: number): string {
    if (type === RESOURCE_PROJECT && !this.hasProjects) return String(type);
    return this.resourceTypeNames.get(type) ?? String(type);
  }

  private key(resource: ResourceMessage): string {
    return `${this.typeName(resource.type)}:${resource.name}`;
  }

  // ---- control surface ----

  clusterEntries(): Record<string, string[]> {
    return entriesOf(this.cluster);
  }

  setClusterRoles(principal: string, roles: readonly string[]): void {
    this.checkRoleNames(roles);
    if (roles.length === 0) this.cluster.delete(principal);
    else this.cluster.set(principal, new Set(roles));
  }

  checkRoleNames(roles: readonly string[]): void {
    for (const name of roles) {
      if (!this.roles.has(name)) {
        throw new Error(
          `the stand-in knows the 2.x roles ${[...this.roles.keys()].join(', ')}, not ${JSON.stringify(name)}`,
        );
      }
    }
  }

  /** As pfs CreateProject: the creator becomes projectOwner while auth is on. */
  createProject(name: string, owner: string | undefined, authActive: boolean): ResourceBindingView {
    if (!this.hasProjects) throw new Error(`pachd ${this.version.toString()} has no projects (they arrived in 2.5.0)`);
    if (name === '' || name.includes('/')) throw new Error('a project name is non-empty and has no "/"');
    if (this.projects.has(name)) throw new Error(`project ${name} already exists`);
    this.projects.add(name);
    if (authActive) this.resources.set(this.key({ type: RESOURCE_PROJECT, name }), ownerBinding(owner, 'projectOwner'));
    return this.view('project', name);
  }

  /** pachd refuses to delete a project that still has repos. */
  deleteProject(name: string): boolean {
    if (!this.projects.has(name)) return false;
    if ([...this.repos].some((repo) => repo.startsWith(`${name}/`))) {
      throw new Error(`project ${name} still has repos`);
    }
    this.projects.delete(name);
    this.resources.delete(this.key({ type: RESOURCE_PROJECT, name }));
    return true;
  }

  /** As pfs CreateRepo: the creator becomes repoOwner while auth is on. Returns pachd's resource name. */
  createRepo(
    project: string | undefined,
    name: string,
    owner: string | undefined,
    authActive: boolean,
  ): ResourceBindingView {
    const resourceName = this.repoName(project, name);
    if (this.repos.has(resourceName)) throw new Error(`repo ${resourceName} already exists`);
    this.repos.add(resourceName);
    if (authActive)
      this.resources.set(this.key({ type: RESOURCE_REPO, name: resourceName }), ownerBinding(owner, 'repoOwner'));
    return this.view('repo', resourceName);
  }

  /** Deleting a repo deletes its binding (DeleteRoleBindingInTransaction). */
  deleteRepo(project: string | undefined, name: string): boolean {
    const resourceName = this.repoName(project, name);
    if (!this.repos.delete(resourceName)) return false;
    this.resources.delete(this.key({ type: RESOURCE_REPO, name: resourceName }));
    return true;
  }

  /** Every binding: the cluster's first, then projects and repos by name. */
  listBindings(): ResourceBindingView[] {
    const views: ResourceBindingView[] = [{ type: 'cluster', name: '', entries: this.clusterEntries() }];
    for (const project of [...this.projects].sort()) {
      if (this.resources.has(this.key({ type: RESOURCE_PROJECT, name: project })))
        views.push(this.view('project', project));
    }
    for (const repo of [...this.repos].sort()) {
      if (this.resources.has(this.key({ type: RESOURCE_REPO, name: repo }))) views.push(this.view('repo', repo));
    }
    return views;
  }

  private view(type: 'project' | 'repo', name: string): ResourceBindingView {
    const binding = this.resources.get(this.key({ type: type === 'project' ? RESOURCE_PROJECT : RESOURCE_REPO, name }));
    return { type, name, entries: binding === undefined ? {} : entriesOf(binding) };
  }

  private repoName(project: string | undefined, name: string): string {
    if (name === '' || name.includes('/')) throw new Error('a repo name is non-empty and has no "/"');
    if (!this.hasProjects) {
      if (project !== undefined)
        throw new Error(`pachd ${this.version.toString()} has no projects: give the repo name alone`);
      return name;
    }
    const inProject = project ?? DEFAULT_PROJECT;
    if (!this.projects.has(inProject)) throw new Error(`project ${inProject} does not exist`);
    return `${inProject}/${name}`;
  }
}

function ownerBinding(owner: string | undefined, roleName: string): Binding {
  return owner === undefined ? new Map() : new Map([[owner, new Set([roleName])]]);
}

function entriesOf(binding: Binding): Record<string, string[]> {
  const entries: Record<string, string[]> = {};
  for (const [principal, roles] of [...binding].sort(([a], [b]) => a.localeCompare(b))) {
    entries[principal] = [...roles].sort();
  }
  return entries;
}

/** checkCanonicalSubject @ v2.11.6: allClusterUsers, or one of pachd's fixed prefixes. */
function checkCanonicalSubject(subject: string): void {
  if (subject === ALL_CLUSTER_USERS) return;
  const colon = subject.indexOf(':');
  if (colon < 0) throw plainGoError('subject has no prefix, must be of the form <type>:<name>');
  const prefix = subject.slice(0, colon + 1);
  if (!['pipeline:', 'internal:', 'robot:', 'pach:', 'user:', 'group:'].includes(prefix)) {
    throw plainGoError(`subject has unrecognized prefix: ${prefix}`);
  }
}
