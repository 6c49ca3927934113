/**
 * @file
 * The role bindings a dynamic robot is given, written the way `pachctl auth set` names them:
 *
 *   repo:default/images=repoReader    repo images, project default, role repoReader
 *   repo:images=repoReader            the same on 2.5+ (project `default`); the repo on 1.x
 *   project:default=projectViewer
 *   cluster=secretAdmin
 *
 * One role per entry; several entries on one resource add up. A role stores them as written, so
 * it reads back that way; they are put in the terms of the pachd at hand at each use.
 */

import { badRequest } from '../../sdk/errors';
import type { BindingResource, BindingResourceType, PachdGeneration } from '../pachd/auth-api';
import type { PachdRelease } from '../pachd/release';

/** The roles one principal holds on one resource. */
export interface RoleBinding {
  resource: BindingResource;
  roles: string[];
}

/**
 * Roles pachd 2.x knows, and the resource types where each means something (pachd's role
 * registry; pachd itself accepts any role on any resource).
 */
const ROLE_RESOURCE_TYPES: Readonly<Record<string, readonly BindingResourceType[]>> = {
  repoReader: ['cluster', 'project', 'repo'],
  repoWriter: ['cluster', 'project', 'repo'],
  repoOwner: ['cluster', 'project', 'repo'],
  projectViewer: ['cluster', 'project'],
  projectWriter: ['cluster', 'project'],
  projectOwner: ['cluster', 'project'],
  projectCreator: ['cluster'],
  clusterAdmin: ['cluster'],
  robotUser: ['cluster'],
  licenseAdmin: ['cluster'],
  idpAdmin: ['cluster'],
  identityAdmin: ['cluster'],
  oidcAppAdmin: ['cluster'],
  debugger: ['cluster'],
  secretAdmin: ['cluster'],
  pachdLogReader: ['cluster'],
  lokiLogReader: ['cluster'],
};

/**
 * Roles a robot of this engine may never be given: each lets its holder create identities,
 * tokens or bindings this engine does not know of, which revoking the lease could not remove.
 */
const NEVER_GRANTED: Readonly<Record<string, string>> = {
  clusterAdmin: 'clusterAdmin lets its holder create robots, tokens and bindings the engine cannot take back',
  repoOwner: 'repoOwner lets its holder bind anyone to the repo, for good; grant repoWriter, or bind owners by hand',
  projectOwner:
    'projectOwner lets its holder bind anyone to the project, for good; grant projectWriter, or bind owners by hand',
  robotUser: 'robotUser lets its holder mint tokens for any robot, which outlive the lease',
  identityAdmin: 'identityAdmin lets its holder change who pachd trusts',
  idpAdmin: 'idpAdmin lets its holder add identity providers, and with them identities',
  oidcAppAdmin: 'oidcAppAdmin lets its holder create OIDC clients, and with them identities',
};

/** pachd 1.x's scopes are one per user per repo; these are the 2.x names the engine maps onto them. */
const V1_REPO_ROLES = ['repoReader', 'repoWriter', 'repoOwner'];

const ENTRY_SHAPE = /^(?:(repo|project):([^=]+)|cluster)=([A-Za-z][A-Za-z0-9]*)$/;
const NAME_SHAPE = /^[A-Za-z0-9_-]+$/;
/** More bindings than anyone writes by hand, and few enough that one read stays cheap at pachd. */
export const MAX_ROLE_BINDINGS = 32;

/** Parses `kind:name=role` entries into grants, merging entries on the same resource. */
export function parseRoleBindings(entries: readonly string[]): RoleBinding[] {
  const cleaned = entries.map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (cleaned.length > MAX_ROLE_BINDINGS) {
    throw badRequest(`a role holds at most ${MAX_ROLE_BINDINGS} role bindings; this one lists ${cleaned.length}`);
  }
  const bindings: RoleBinding[] = [];
  for (const entry of cleaned) {
    const match = ENTRY_SHAPE.exec(entry);
    if (match === null) {
      throw badRequest(
        `role binding ${JSON.stringify(entry)} must read repo:<project>/<repo>=<role>, repo:<repo>=<role>, ` +
          'project:<project>=<role> or cluster=<role>, e.g. repo:default/images=repoReader',
      );
    }
    const type: BindingResourceType = (match[1] as BindingResourceType | undefined) ?? 'cluster';
    const name = resourceName(type, match[2] ?? '', entry);
    const role = match[3] ?? '';
    const existing = bindings.find((binding) => binding.resource.type === type && binding.resource.name === name);
    if (existing === undefined) bindings.push({ resource: { type, name }, roles: [role] });
    else if (!existing.roles.includes(role)) existing.roles.push(role);
  }
  return bindings;
}

function resourceName(type: BindingResourceType, written: string, entry: string): string {
  if (type === 'cluster') return '';
  const parts = written.split('/');
  const valid = parts.every((part) => NAME_SHAPE.test(part)) && parts.length <= (type === 'repo' ? 2 : 1);
  if (!valid) {
    throw badRequest(
      `role binding ${JSON.stringify(entry)} names a ${type} pachd cannot have: names hold letters, digits, ` +
        `"_" and "-"${type === 'repo' ? ', and a repo may be written project/repo' : ''}`,
    );
  }
  return written;
}

/**
 * Checks grants against what the pachd at hand can express and what a robot may hold, and puts
 * repo names in that pachd's form: `project/repo` from 2.5 on, the bare repo before projects.
 */
export function checkRoleBindings(
  bindings: readonly RoleBinding[],
  generation: PachdGeneration,
  release: PachdRelease | undefined,
): RoleBinding[] {
  if (bindings.length === 0) throw badRequest('a dynamic robot role needs at least one role binding');
  const hasProjects = generation === 2 && (release === undefined || release.isAtLeast(2, 5, 0));
  for (const binding of bindings) {
    const shown = formatResource(binding.resource);
    for (const role of binding.roles) {
      const types = Object.hasOwn(ROLE_RESOURCE_TYPES, role) ? ROLE_RESOURCE_TYPES[role] : undefined;
      if (types === undefined)
        throw badRequest(`unknown pachd role ${JSON.stringify(role)} in the binding on ${shown}`);
      const never = Object.hasOwn(NEVER_GRANTED, role) ? NEVER_GRANTED[role] : undefined;
      if (never !== undefined) throw badRequest(`a robot of this engine cannot be given ${role}: ${never}`);
      if (!types.includes(binding.resource.type)) {
        throw badRequest(`${role} means nothing on a ${binding.resource.type}; it applies to: ${types.join(', ')}`);
      }
    }
  }
  // Entries become one resource once written in pachd's terms (repo:images is default/images on
  // 2.5+, images/x is x before): what a resource may hold is judged after they are merged.
  const inPachdTerms = merged(
    bindings.map((binding) => ({
      resource: hasProjects
        ? projectResource(binding.resource)
        : preProjectResource(binding, generation, formatResource(binding.resource)),
      roles: [...binding.roles],
    })),
  );
  return inPachdTerms.map((binding) => {
    const shown = formatResource(binding.resource);
    const roles = hasProjects
      ? checkedProjectRoles(binding, release, shown)
      : checkedPreProjectRoles(binding, generation, shown);
    return { resource: binding.resource, roles };
  });
}

/** `repo:images` and `repo:default/images` are one resource once the default project is filled in. */
function merged(bindings: readonly RoleBinding[]): RoleBinding[] {
  const out: RoleBinding[] = [];
  for (const binding of bindings) {
    const same = out.find(
      (other) => other.resource.type === binding.resource.type && other.resource.name === binding.resource.name,
    );
    if (same === undefined) out.push({ resource: { ...binding.resource }, roles: [...binding.roles] });
    else for (const role of binding.roles) if (!same.roles.includes(role)) same.roles.push(role);
  }
  return out;
}

function projectResource(resource: BindingResource): BindingResource {
  if (resource.type === 'repo' && !resource.name.includes('/'))
    return { type: 'repo', name: `default/${resource.name}` };
  return { ...resource };
}

/** Project roles arrived in two steps: projectOwner and projectCreator in 2.5, the others in 2.6. */
function checkedProjectRoles(binding: RoleBinding, release: PachdRelease | undefined, shown: string): string[] {
  const late = binding.roles.find((role) => role === 'projectViewer' || role === 'projectWriter');
  if (late !== undefined && release !== undefined && !release.isAtLeast(2, 6, 0)) {
    throw badRequest(`pachd before 2.6 has no role ${late} (binding on ${shown})`);
  }
  return [...binding.roles];
}

function preProjectResource(binding: RoleBinding, generation: PachdGeneration, shown: string): BindingResource {
  const pachd = generation === 1 ? 'pachd 1.x' : 'pachd before 2.5';
  if (binding.resource.type === 'project') throw badRequest(`${pachd} has no projects, so no binding on ${shown}`);
  if (binding.resource.type === 'cluster') {
    if (generation === 1) throw badRequest(`pachd 1.x binds no cluster roles a dynamic robot may hold (${shown})`);
    return binding.resource;
  }
  const [project, repo] = binding.resource.name.split('/');
  if (repo === undefined) return { ...binding.resource };
  if (project !== 'default') {
    throw badRequest(`${pachd} has no projects: write the repo without one (repo:<repo>=<role>), not ${shown}`);
  }
  return { type: 'repo', name: repo };
}

function checkedPreProjectRoles(binding: RoleBinding, generation: PachdGeneration, shown: string): string[] {
  if (generation === 2) {
    const projectRole = binding.roles.find((role) => role.startsWith('project'));
    if (projectRole !== undefined) throw badRequest(`pachd before 2.5 has no projects, and no role ${projectRole}`);
    return [...binding.roles];
  }
  const unknown = binding.roles.find((role) => !V1_REPO_ROLES.includes(role));
  if (unknown !== undefined) {
    throw badRequest(
      `pachd 1.x grants repos only through scopes (${V1_REPO_ROLES.join(', ')}), not ${unknown} on ${shown}`,
    );
  }
  if (binding.roles.length > 1) {
    throw badRequest(
      `pachd 1.x holds one scope per user and repo; give one role on ${shown}, not ${binding.roles.join(' and ')}`,
    );
  }
  return [...binding.roles];
}

/** `repo:default/images`, `project:default`, `cluster`. */
export function formatResource(resource: BindingResource): string {
  return resource.type === 'cluster' ? 'cluster' : `${resource.type}:${resource.name}`;
}

/** Grants back in the `kind:name=role` spelling, one entry per role. */
export function formatRoleBindings(bindings: readonly RoleBinding[]): string[] {
  return bindings.flatMap((binding) => binding.roles.map((role) => `${formatResource(binding.resource)}=${role}`));
}

/** Reads grants back from storage or a lease, refusing anything not of their shape. */
export function bindingsFromStored(value: unknown): RoleBinding[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const bindings: RoleBinding[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { resource, roles } = item as { resource?: unknown; roles?: unknown };
    if (typeof resource !== 'object' || resource === null) return undefined;
    const { type, name } = resource as { type?: unknown; name?: unknown };
    if ((type !== 'cluster' && type !== 'project' && type !== 'repo') || typeof name !== 'string') return undefined;
    if (!Array.isArray(roles) || !roles.every((role): role is string => typeof role === 'string')) return undefined;
    bindings.push({ resource: { type, name }, roles: [...roles] });
  }
  return bindings;
}
