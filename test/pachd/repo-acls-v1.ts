import type { CreateRepoSpec, ResourceBindingView } from './pachd-emulation';
import { type PachdStatusError, plainGoError } from './pachd-status';

/** auth.Scope: each level includes the ones below it. */
export const SCOPE = { NONE: 0, READER: 1, WRITER: 2, OWNER: 3 } as const;
const SCOPE_NAMES = ['NONE', 'READER', 'WRITER', 'OWNER'] as const;

const ALL_CLUSTER_USERS = 'allClusterUsers';
/**
 * What a missing repo looks like when SetScope asks pfs for it: the etcd collection's ErrNotFound,
 * "<prefix> <key> not found", with pachd's DefaultPrefix "pachyderm/1.7.0" trimmed off the
 * collection prefix "pachyderm/1.7.0/pachyderm_pfs/repos/" (src/server/pkg/collection @ v1.13.4).
 */
const REPOS_COLLECTION = '/pachyderm_pfs/repos/';

/** What the 1.x emulation lends the ACL handlers: its caller checks and subject rules. */
export interface AclCallerContext {
  /** ErrNotActivated when auth is off; otherwise the caller's subject (or the token errors). */
  authenticatedSubject(): string;
  /** hasClusterRole(FS): SUPER or FS, the test SetScope and GetScope apply. */
  isAdminOrFs(subject: string): boolean;
  canonicalizeSubject(subject: string): string;
}

interface SetScopeRequest {
  username: string;
  repo: string;
  scope: number;
}
interface GetScopeRequest {
  username: string;
  repos: string[];
}
interface AclEntryMessage {
  username: string;
  scope: number;
}

/**
 * pachd 1.x repo ACLs (etcd `acls`, one principal → Scope map per repo) and which repos exist,
 * with SetScope, GetScope and GetACL as src/server/auth/server/api_server.go @ v1.13.4 has them.
 * Groups and the enterprise-expiry checks are not modelled.
 */
export class RepoAclsV1 {
  private readonly repos = new Set<string>();
  private readonly acls = new Map<string, Map<string, number>>();

  setScope(context: AclCallerContext, request: SetScopeRequest): object {
    if (request.username === '') throw plainGoError('invalid request: must set username');
    if (request.repo === '') throw plainGoError('invalid request: must set repo');
    const caller = context.authenticatedSubject();
    let acl = this.acls.get(request.repo);
    if (acl === undefined) {
      // No ACL: pachd asks pfs whether the repo exists before anything else, even the caller's right.
      if (!this.repos.has(request.repo)) throw plainGoError(`${REPOS_COLLECTION} ${request.repo} not found`);
      acl = new Map();
    }
    if (!context.isAdminOrFs(caller) && effectiveScope(acl, caller) !== SCOPE.OWNER) {
      throw notAuthorizedOnRepo(caller, request.repo, 'OWNER');
    }
    const principal = context.canonicalizeSubject(request.username);
    if (request.scope === SCOPE.NONE) acl.delete(principal);
    else acl.set(principal, request.scope);
    // An ACL left empty is deleted from etcd, as pachd does.
    if (acl.size === 0) this.acls.delete(request.repo);
    else this.acls.set(request.repo, acl);
    return {};
  }

  getScope(context: AclCallerContext, request: GetScopeRequest): { scopes: number[] } {
    const caller = context.authenticatedSubject();
    const callerIsAdmin = context.isAdminOrFs(caller);
    const target = request.username === '' ? caller : context.canonicalizeSubject(request.username);
    const scopes: number[] = [];
    for (const repo of request.repos) {
      // A repo without an ACL, existing or not, reads as NONE.
      const acl = this.acls.get(repo) ?? new Map<string, number>();
      if (request.username !== '' && !callerIsAdmin && effectiveScope(acl, caller) < SCOPE.READER) {
        throw notAuthorizedOnRepo(caller, repo, 'READER');
      }
      scopes.push(effectiveScope(acl, target));
    }
    return { scopes };
  }

  getAcl(context: AclCallerContext, repo: string): { entries: AclEntryMessage[]; robot_entries: AclEntryMessage[] } {
    if (repo === '') {
      throw plainGoError("invalid request: must provide name of repo to get that repo's ACL");
    }
    context.authenticatedSubject();
    // Any authenticated caller may read any ACL; a missing repo reads as an empty one.
    const entries = [...(this.acls.get(repo) ?? [])]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([username, scope]) => ({ username, scope }));
    return { entries, robot_entries: [] };
  }

  // ---- control surface ----

  /** As pfs CreateRepo: its creator gets OWNER while auth is on. */
  createRepo(spec: CreateRepoSpec, authActive: boolean): ResourceBindingView {
    if (spec.project !== undefined) throw new Error('pachd 1.x has no projects: give the repo name alone');
    if (spec.name === '' || spec.name.includes('/')) throw new Error('a repo name is non-empty and has no "/"');
    if (this.repos.has(spec.name)) throw new Error(`repo ${spec.name} already exists`);
    this.repos.add(spec.name);
    if (authActive && spec.owner !== undefined) this.acls.set(spec.name, new Map([[spec.owner, SCOPE.OWNER]]));
    return this.view(spec.name);
  }

  /** Deleting a repo deletes its ACL. */
  deleteRepo(name: string): boolean {
    this.acls.delete(name);
    return this.repos.delete(name);
  }

  /** Deactivate drops every ACL. */
  wipe(): void {
    this.acls.clear();
  }

  /** Every existing repo with its ACL (possibly empty), by name. */
  views(): ResourceBindingView[] {
    return [...this.repos].sort().map((repo) => this.view(repo));
  }

  private view(repo: string): ResourceBindingView {
    const entries: Record<string, string[]> = {};
    for (const [principal, scope] of [...(this.acls.get(repo) ?? [])].sort(([a], [b]) => a.localeCompare(b))) {
      entries[principal] = [SCOPE_NAMES[scope] ?? String(scope)];
    }
    return { type: 'repo', name: repo, entries };
  }
}

/** getScope @ v1.13.4: the principal's own entry, raised by allClusterUsers' (groups not modelled). */
function effectiveScope(acl: ReadonlyMap<string, number>, subject: string): number {
  return Math.max(acl.get(ALL_CLUSTER_USERS) ?? SCOPE.NONE, acl.get(subject) ?? SCOPE.NONE);
}

/** ErrNotAuthorized with a repo and a required scope: a plain Go error, so Unknown. */
function notAuthorizedOnRepo(subject: string, repo: string, required: string): PachdStatusError {
  return plainGoError(
    `${subject} is not authorized to perform this operation on the repo ${repo}, must have at least ${required} access`,
  );
}
