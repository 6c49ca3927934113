import type { PachdConnection } from './connection';

export type PachdGeneration = 1 | 2;

export interface TokenIdentity {
  subject: string;
  /** null when the token never expires. */
  expiresAt: Date | null;
}

export interface AdminIdentity extends TokenIdentity {
  /**
   * May install tokens of the engine's choosing with RestoreAuthToken (2.x:
   * CLUSTER_AUTH_RESTORE_TOKEN; 1.x: an admin).
   */
  canRestore: boolean;
  /** May have pachd generate tokens: 2.x robots with CLUSTER_AUTH_GET_ROBOT_TOKEN; 1.x anyone, as an admin. */
  canGenerate: { users: boolean; robots: boolean };
  /** Why it cannot serve as the engine's admin token at all, in pachd's terms. */
  shortfall: string | undefined;
}

/** A token whose value the engine chose, to install with RestoreAuthToken. */
export interface PreparedToken {
  value: string;
  subject: string;
  /** null: never expires (only ever for an admin token replacing one that never expired). */
  expiresAt: Date | null;
}

export interface MintedToken {
  token: string;
  subject: string;
  expiresAt: Date | null;
}

/** What a revocation found: `unknown` when this pachd does not say whether the token existed. */
export type RevokeOutcome = 'revoked' | 'absent' | 'unknown';

/**
 * What the engine needs from pachd's auth service, whatever its generation: who a token
 * belongs to, what the admin token may do, installing a token whose value the engine chose,
 * having pachd generate one, extending (1.x only) and revoking. `auth-v1.ts` and `auth-v2.ts`
 * implement it on the two APIs.
 */
export interface PachdAuthApi extends PachdRoleBindings {
  readonly generation: PachdGeneration;
  readonly connection: PachdConnection;

  identify(token: string): Promise<TokenIdentity>;
  verifyAdmin(adminToken: string): Promise<AdminIdentity>;
  /** Installs a token the engine chose and journaled (RestoreAuthToken). */
  restore(adminToken: string, token: PreparedToken): Promise<void>;
  /**
   * Has pachd generate a token (2.x GetRobotToken, 1.x GetAuthToken): the value exists only in
   * pachd's answer. `lifetimeSeconds` null asks for a token that never expires.
   */
  generate(adminToken: string, subject: string, lifetimeSeconds: number | null): Promise<MintedToken>;
  /**
   * Sets a token's remaining lifetime (1.x). Resolves false when pachd keeps a longer lifetime
   * (pachd cannot shorten a token).
   */
  extend(adminToken: string, token: string, lifetimeSeconds: number): Promise<boolean>;
  /** Revokes a token as `callerToken`; a token pachd no longer knows counts as revoked. */
  revoke(callerToken: string, token: string): Promise<RevokeOutcome>;
  /** Revokes a token with its own authority (every pachd user may revoke their own token). */
  revokeAsItself(token: string): Promise<RevokeOutcome>;
  /** 2.x: makes `rootToken` the only token of pach:root (RotateRootToken). */
  rotateRoot(adminToken: string, rootToken: string): Promise<void>;
}

/** The longest lifetime 1.x pachd gives or extends a token to: 30 days. */
export const PACHD_V1_MAX_TTL_SECONDS = 2_592_000;

/**
 * Where a role binding lives. `name` is pachd's: "" for the cluster, the project's name, and for
 * a repo `project/repo` on pachd 2.5 and later (projects arrived then) or the bare repo name on
 * 1.x and 2.0-2.4.
 */
export type BindingResourceType = 'cluster' | 'project' | 'repo';

export interface BindingResource {
  type: BindingResourceType;
  name: string;
}

/**
 * Role bindings and per-subject revocation, for dynamic robots. Role names are pachd 2.x's
 * (repoReader, projectViewer, ...); the 1.x implementation maps the repo roles onto its scopes
 * (READER, WRITER, OWNER) and refuses what its model cannot say.
 */
export interface PachdRoleBindings {
  /**
   * Sets the roles `principal` holds directly on `resource`, replacing what it held there; an
   * empty list removes the binding. A missing resource is a PachdError with failure 'resource-not-found'.
   */
  setRoles(adminToken: string, resource: BindingResource, principal: string, roles: readonly string[]): Promise<void>;
  /**
   * The roles `principal` holds directly on `resource` (not inherited ones), [] for none.
   * A missing resource is a PachdError with failure 'resource-not-found' on 2.x; 1.x's GetACL
   * answers an empty ACL for a missing repo, so there it reads as [].
   */
  rolesOf(callerToken: string, resource: BindingResource, principal: string): Promise<string[]>;
  /**
   * Whether `callerToken` may change bindings on `resource` (2.x: *_MODIFY_BINDINGS, a missing
   * resource being 'resource-not-found'; 1.x: SUPER or FS, or OWNER scope on the repo, which pachd
   * reports without checking that the repo exists).
   */
  canModifyBindings(callerToken: string, resource: BindingResource): Promise<boolean>;
  /**
   * Revokes every token of `subject` (2.x RevokeAuthTokensForUser, which pachd refuses for pach:
   * users). Resolves the number revoked, 'unknown' before 2.5 (pachd does not say), or
   * 'unsupported' on 1.x, which has no such call.
   */
  revokeTokensOf(adminToken: string, subject: string): Promise<number | 'unknown' | 'unsupported'>;
}
