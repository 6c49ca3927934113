/**
 * @file
 * 1.x pachd's cluster role bindings: SUPER (an admin, holding every cluster role) and FS. 1.11
 * maps ModifyAdmins onto them; before, SUPER is all there is.
 */

import type { ModifyAdminsRequest } from './auth-v1-messages';
import { type PachdStatusError, plainGoError } from './pachd-status';
import type { PachdVersion } from './pachd-version';

type ClusterRoleName = 'SUPER' | 'FS';
const CLUSTER_ROLE_NUMBERS: Record<ClusterRoleName, number> = { SUPER: 1, FS: 2 };

function isClusterRoleName(name: string): name is ClusterRoleName {
  return name === 'SUPER' || name === 'FS';
}

/**
 * ModifyAdmins' principals, true to add: checked before anything else, as pachd does (1.11+
 * refuses one principal in both lists).
 */
export function adminGrants(request: ModifyAdminsRequest, version: PachdVersion): Map<string, boolean> {
  const grants = new Map<string, boolean>();
  for (const principal of request.add) grants.set(principal, true);
  for (const principal of request.remove) {
    if (grants.has(principal) && version.isAtLeast(1, 11, 0)) {
      throw plainGoError(`Invalid Request: ${JSON.stringify(principal)} both added and removed as admin`);
    }
    grants.set(principal, false);
  }
  return grants;
}

export class ClusterRolesV1 {
  private readonly roles = new Map<string, Set<ClusterRoleName>>();

  /** ModifyAdmins once the caller passed: each principal canonicalized, then the changes applied. */
  applyAdminGrants(grants: ReadonlyMap<string, boolean>, canonicalize: (principal: string) => string): void {
    const wrap = (message: string): PachdStatusError =>
      plainGoError(`error applying cluster role bindings: ${message}`);
    const canonical = new Map<string, boolean>();
    for (const [principal, grant] of grants) {
      try {
        canonical.set(canonicalize(principal), grant);
      } catch (error) {
        throw wrap(error instanceof Error ? error.message : String(error));
      }
    }
    this.applyAdminChanges(canonical, wrap);
  }

  isAdmin(subject: string): boolean {
    return this.roles.get(subject)?.has('SUPER') ?? false;
  }

  /** hasClusterRole(FS): SUPER, which includes every cluster role, or FS itself. */
  holdsAny(subject: string): boolean {
    return (this.roles.get(subject)?.size ?? 0) > 0;
  }

  /** WhoAmI's cluster_roles (1.11+). */
  roleNumbers(subject: string): number[] {
    return [...(this.roles.get(subject) ?? [])].map((role) => CLUSTER_ROLE_NUMBERS[role]);
  }

  superHolders(): string[] {
    const holders: string[] = [];
    for (const [principal, roles] of this.roles) if (roles.has('SUPER')) holders.push(principal);
    return holders;
  }

  /** Replaces the principal's roles; an empty list removes its binding. */
  set(principal: string, roles: readonly string[]): void {
    this.checkRoleNames(roles);
    const valid = roles.filter(isClusterRoleName);
    if (valid.length === 0) this.roles.delete(principal);
    else this.roles.set(principal, new Set(valid));
  }

  /**
   * ModifyAdmins' changes, principals canonical: a grant makes SUPER the principal's only role and
   * a removal clears both, as 1.11+ maps ModifyAdmins onto whole cluster role bindings. None
   * applies when no admin would be left.
   */
  applyAdminChanges(changes: ReadonlyMap<string, boolean>, wrap: (message: string) => PachdStatusError): void {
    const remainingSupers = new Set(this.superHolders());
    for (const [principal, grant] of changes) {
      if (grant) remainingSupers.add(principal);
      else remainingSupers.delete(principal);
    }
    if (remainingSupers.size === 0) {
      throw wrap(
        'invalid request: cannot remove all cluster administrators while auth is active, to avoid unfixable cluster ' +
          'states',
      );
    }
    for (const [principal, grant] of changes) this.set(principal, grant ? ['SUPER'] : []);
  }

  clear(): void {
    this.roles.clear();
  }

  entries(): Record<string, string[]> {
    const bindings: Record<string, string[]> = {};
    for (const [principal, roles] of this.roles) bindings[principal] = [...roles].sort();
    return bindings;
  }

  checkRoleNames(roles: readonly string[]): void {
    for (const role of roles) {
      if (!isClusterRoleName(role)) {
        throw new Error(`1.x cluster roles are SUPER and FS, not ${JSON.stringify(role)}`);
      }
    }
  }
}

/** The refusal of an admin-only call to a caller that is not one. */
export function notAnAdmin(subject: string, adminOp: string): PachdStatusError {
  const who = subject === '' ? '' : `${subject} is `;
  return plainGoError(`${who}not authorized to perform this operation; must be an admin to call ${adminOp}`);
}
