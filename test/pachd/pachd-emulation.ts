import type { PachdUnaryHandler } from './pachd-methods';
import type { PachdGeneration } from './pachd-version';

/** One stored token as the control surface shows it: never the plaintext. */
export interface TokenView {
  hash: string;
  subject: string;
  /** ISO-8601 on the stand-in clock; null never expires. */
  expiresAt: string | null;
  expiresAtMs: number | null;
  /** Whole seconds left, -1 without expiry (1.x WhoAmI's convention). */
  ttlSeconds: number;
  /** Only 2.x rows can be expired yet present (until pachd's 24-hour cleanup). */
  expired: boolean;
  /** 1.x TokenInfo.source name; absent in 2.x. */
  source?: string;
}

export interface CreateTokenSpec {
  subject: string;
  /** Omitted, zero or negative: the token never expires. Not subject to pachd's TTL rules. */
  ttlSeconds?: number;
  /** Plaintext to register; a fresh 32-hex token when omitted. */
  token?: string;
  /** Cluster roles to bind to the subject as well (1.x SUPER/FS, 2.x role names). */
  roles?: string[];
}

export interface CreatedToken {
  token: string;
  hash: string;
  subject: string;
  expiresAt: string | null;
}

export interface CreateRepoSpec {
  /** 2.5+: the repo's project, `default` when omitted; must be omitted before 2.5 and on 1.x. */
  project?: string;
  name: string;
  /** Bound repoOwner (2.x) or given OWNER scope (1.x), as pachd does for a repo's creator. */
  owner?: string;
}

export interface CreateProjectSpec {
  name: string;
  /** Bound projectOwner, as pachd does for a project's creator. */
  owner?: string;
}

/** One resource's role bindings; 1.x repos list their ACL's scopes (READER, WRITER, OWNER). */
export interface ResourceBindingView {
  type: 'cluster' | 'project' | 'repo';
  /** pachd's resource name: "" for the cluster, `project/repo` for 2.5+ repos. */
  name: string;
  entries: Record<string, string[]>;
}

/**
 * One generation's auth service: gRPC handlers plus the state operations the control surface
 * performs directly (bypassing pachd's rules, which is the point of a test back door).
 */
export interface PachdAuthEmulation {
  readonly generation: PachdGeneration;
  /** Fully qualified name of the auth service this generation serves. */
  readonly authService: string;
  /** Handlers by method name for the RPCs the stand-in implements. */
  handlers(): Map<string, PachdUnaryHandler>;
  /** RPCs of the served auth service that the emulated release did not have yet. */
  isAbsentInRelease(method: string): boolean;

  readonly rootToken: string;
  readonly activated: boolean;
  listTokens(): TokenView[];
  createToken(spec: CreateTokenSpec): CreatedToken;
  deleteToken(hash: string): boolean;
  clusterRoleBindings(): Record<string, string[]>;
  /** Replaces the principal's cluster roles; an empty list removes the binding. */
  setClusterRoles(principal: string, roles: readonly string[]): void;
  /** Creates a repo as pfs would (2.x in project `default` unless told); returns its binding. */
  createRepo(spec: CreateRepoSpec): ResourceBindingView;
  /** Deletes a repo and its binding; false when it does not exist. */
  deleteRepo(project: string | undefined, name: string): boolean;
  /** 2.5+ only: creates a project; 1.x and older 2.x throw. */
  createProject(spec: CreateProjectSpec): ResourceBindingView;
  deleteProject(name: string): boolean;
  /** The cluster binding, then every project's and repo's. */
  resourceBindings(): ResourceBindingView[];
  /** Turns auth off. `wipe` also drops tokens and bindings, as pachd's own Deactivate does. */
  deactivate(wipe: boolean): void;
  /** Turns auth back on; after a wipe this bootstraps a fresh root token. Returns the root token. */
  activate(): string;
  /** Deletes rows whose expiry has passed (2.x DeleteExpiredAuthTokens); 1.x has none to delete. */
  purgeExpired(): number;
}
