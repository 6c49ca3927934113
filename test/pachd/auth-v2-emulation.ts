import * as grpc from '@grpc/grpc-js';

import { callerTokenFrom } from './caller-token';
import { PachdAuthErrors } from './pachd-auth-errors';
import type {
  CreateTokenSpec,
  CreatedToken,
  PachdAuthEmulation,
  TokenView,
} from './pachd-emulation';
import {
  type PachdCall,
  type PachdUnaryHandler,
  type TimestampMessage,
  int64ToNumber,
  msFromTimestamp,
  timestampFromMs,
  typedHandler,
} from './pachd-methods';
import { PachdStatusError, plainGoError } from './pachd-status';
import type { PachdVersion } from './pachd-version';
import type { StandinClock } from './standin-clock';
import type { TokenHistory, TokenOrigin } from './token-history';
import { type StoredToken, TokenSource, TokenStore, hashPachToken, newPachToken } from './token-store';

const ROOT_USER = 'pach:root';
const INTERNAL_AUTH_USER = 'internal:auth-server';
const ALL_CLUSTER_USERS = 'allClusterUsers';
/** pachd deletes expired rows at startup and then every cleanupIntervalHours = 24. */
const CLEANUP_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** ResourceType numbers from auth_v2. */
const RESOURCE_CLUSTER = 1;
const RESOURCE_REPO = 2;
const RESOURCE_PROJECT = 4;

/** Permission numbers the interceptor table needs (auth_v2.Permission). */
const PERMISSION = {
  CLUSTER_AUTH_DEACTIVATE: 103,
  CLUSTER_AUTH_EXTRACT_TOKENS: 112,
  CLUSTER_AUTH_RESTORE_TOKEN: 113,
  CLUSTER_AUTH_GET_ROBOT_TOKEN: 139,
  CLUSTER_AUTH_DELETE_EXPIRED_TOKENS: 140,
  CLUSTER_AUTH_GET_PERMISSIONS_FOR_PRINCIPAL: 141,
  CLUSTER_AUTH_REVOKE_USER_TOKENS: 142,
  CLUSTER_AUTH_ROTATE_ROOT_TOKEN: 147,
  PROJECT_CREATE: 400,
} as const;

interface RoleDefinition {
  permissions: readonly number[];
  /** The same permissions, for the per-call interceptor check. */
  permissionSet: ReadonlySet<number>;
  /** Resource types GetPermissions reports the role for. */
  returnedFor: readonly number[];
}

function role(permissions: readonly number[], returnedFor: readonly number[]): RoleDefinition {
  return { permissions, permissionSet: new Set(permissions), returnedFor };
}

interface ResourceMessage {
  type: number;
  name: string;
}
interface ActivateRequest {
  root_token: string;
}
interface GetRobotTokenRequest {
  robot: string;
  ttl: string;
}
interface RevokeAuthTokenRequest {
  token: string;
}
interface RevokeAuthTokensForUserRequest {
  username: string;
}
interface TokenInfoMessage {
  subject: string;
  expiration: TimestampMessage | null;
  hashed_token: string;
}
interface RestoreAuthTokenRequest {
  token: TokenInfoMessage | null;
}
interface RotateRootTokenRequest {
  root_token: string;
}
interface AuthorizeRequest {
  resource: ResourceMessage | null;
  permissions: number[];
}
interface GetPermissionsRequest {
  resource: ResourceMessage | null;
}
interface GetPermissionsForPrincipalRequest {
  resource: ResourceMessage | null;
  principal: string;
}
interface GetPermissionsResponse {
  permissions: number[];
  roles: string[];
}

export interface AuthV2Options {
  version: PachdVersion;
  clock: StandinClock;
  /** auth_v2.Permission number → name, for error texts and clusterAdmin's permission set. */
  permissionNames: ReadonlyMap<number, string>;
  /** auth_v2.ResourceType number → name, for error texts. */
  resourceTypeNames: ReadonlyMap<number, string>;
  /** Where every token insert is recorded. */
  history: TokenHistory;
  rootToken?: string;
}

/**
 * Pachyderm 2.x auth (`auth_v2.API`) over an in-memory version of the auth.auth_tokens table.
 * Rows outlive their expiry until the 24-hourly cleanup, during which presenting the token gives
 * ErrExpiredToken instead of ErrBadToken. Authorization follows the auth interceptor's per-method
 * table and the cluster role binding.
 */
export class AuthV2Emulation implements PachdAuthEmulation {
  readonly generation = 2 as const;
  readonly authService = 'auth_v2.API';

  private readonly version: PachdVersion;
  private readonly clock: StandinClock;
  private readonly errors: PachdAuthErrors;
  private readonly permissionNames: ReadonlyMap<number, string>;
  private readonly resourceTypeNames: ReadonlyMap<number, string>;
  private readonly roles: ReadonlyMap<string, RoleDefinition>;
  private readonly tokens: TokenStore;
  private readonly clusterBinding = new Map<string, Set<string>>();
  private active = false;
  private wiped = false;
  private currentRootToken = '';
  private nextCleanupAtMs: number;

  constructor(options: AuthV2Options) {
    this.version = options.version;
    this.clock = options.clock;
    this.errors = new PachdAuthErrors(2, options.version);
    this.permissionNames = options.permissionNames;
    this.resourceTypeNames = options.resourceTypeNames;
    this.tokens = new TokenStore(options.history);
    const everyPermission = [...options.permissionNames.keys()].filter((number) => number !== 0);
    this.roles = new Map<string, RoleDefinition>([
      ['clusterAdmin', role(everyPermission, [RESOURCE_CLUSTER, RESOURCE_PROJECT, RESOURCE_REPO])],
      ['robotUser', role([PERMISSION.CLUSTER_AUTH_GET_ROBOT_TOKEN], [RESOURCE_CLUSTER])],
      ['projectCreator', role([PERMISSION.PROJECT_CREATE], [RESOURCE_CLUSTER])],
    ]);
    this.nextCleanupAtMs = this.clock.nowMs() + CLEANUP_INTERVAL_MS;
    this.bootstrap(options.rootToken ?? newPachToken(), 'bootstrap');
  }

  get rootToken(): string {
    return this.currentRootToken;
  }

  get activated(): boolean {
    return this.active;
  }

  handlers(): Map<string, PachdUnaryHandler> {
    const perm = PERMISSION;
    return new Map<string, PachdUnaryHandler>([
      ['Activate', typedHandler((request: ActivateRequest) => this.activateRpc(request))],
      [
        'Deactivate',
        typedHandler((_request: object, call: PachdCall) => {
          this.requireClusterPermission(call, perm.CLUSTER_AUTH_DEACTIVATE);
          this.deactivate(true);
          return {};
        }),
      ],
      ['WhoAmI', typedHandler((_request: object, call: PachdCall) => this.whoAmI(call))],
      [
        'Authorize',
        typedHandler((request: AuthorizeRequest, call: PachdCall) => this.authorize(request, call)),
      ],
      [
        'GetPermissions',
        typedHandler((request: GetPermissionsRequest, call: PachdCall) => {
          const caller = this.authenticatedCaller(call);
          const resource = this.requiredResource(request.resource, 'GetPermissionsRequest');
          return this.permissionsOf(caller.subject, resource);
        }),
      ],
      [
        'GetPermissionsForPrincipal',
        typedHandler((request: GetPermissionsForPrincipalRequest, call: PachdCall) => {
          this.requireClusterPermission(call, perm.CLUSTER_AUTH_GET_PERMISSIONS_FOR_PRINCIPAL);
          const resource = this.requiredResource(
            request.resource,
            'GetPermissionsForPrincipalRequest',
          );
          return this.permissionsOf(request.principal, resource);
        }),
      ],
      [
        'GetRobotToken',
        typedHandler((request: GetRobotTokenRequest, call: PachdCall) =>
          this.getRobotToken(request, call),
        ),
      ],
      [
        'RevokeAuthToken',
        typedHandler((request: RevokeAuthTokenRequest, call: PachdCall) => {
          this.authenticatedCaller(call);
          const deleted = this.tokens.delete(hashPachToken(request.token)) ? 1 : 0;
          return this.countResponse(deleted);
        }),
      ],
      [
        'RevokeAuthTokensForUser',
        typedHandler((request: RevokeAuthTokensForUserRequest, call: PachdCall) => {
          this.requireClusterPermission(call, perm.CLUSTER_AUTH_REVOKE_USER_TOKENS);
          if (request.username.startsWith('pach:')) {
            throw plainGoError('cannot revoke tokens for pach: users');
          }
          return this.countResponse(this.tokens.deleteSubject(request.username));
        }),
      ],
      [
        'ExtractAuthTokens',
        typedHandler((_request: object, call: PachdCall) => {
          this.requireClusterPermission(call, perm.CLUSTER_AUTH_EXTRACT_TOKENS);
          // Expired rows that the cleanup has not reached yet are extracted too.
          const robots = this.tokens.all().filter((token) => token.subject.startsWith('robot:'));
          return { tokens: robots.map((token) => this.tokenInfoMessage(token)) };
        }),
      ],
      [
        'RestoreAuthToken',
        typedHandler((request: RestoreAuthTokenRequest, call: PachdCall) =>
          this.restoreAuthToken(request, call),
        ),
      ],
      [
        'DeleteExpiredAuthTokens',
        typedHandler((_request: object, call: PachdCall) => {
          this.requireClusterPermission(call, perm.CLUSTER_AUTH_DELETE_EXPIRED_TOKENS);
          this.purgeExpired();
          return {};
        }),
      ],
      [
        'RotateRootToken',
        typedHandler((request: RotateRootTokenRequest, call: PachdCall) =>
          this.rotateRootToken(request, call),
        ),
      ],
    ]);
  }

  isAbsentInRelease(): boolean {
    // The 2.x auth service kept the same 25 RPCs from 2.0.0 through 2.12.
    return false;
  }

  // ---- RPCs ----

  private activateRpc(request: ActivateRequest): { pach_token: string } {
    if (this.active) throw this.errors.alreadyActivated();
    const token = request.root_token === '' ? newPachToken() : request.root_token;
    this.bootstrap(token, 'Activate');
    return { pach_token: token };
  }

  private whoAmI(call: PachdCall): { username: string; expiration: TimestampMessage | null } {
    const caller = this.authenticatedCaller(call);
    return {
      username: caller.subject,
      expiration: caller.expiresAtMs === null ? null : timestampFromMs(caller.expiresAtMs),
    };
  }

  private authorize(
    request: AuthorizeRequest,
    call: PachdCall,
  ): { authorized: boolean; satisfied: number[]; missing: number[]; principal: string } {
    const caller = this.authenticatedCaller(call);
    const resource = this.requiredResource(request.resource, 'AuthorizeRequest');
    const granted = this.grantedPermissions(caller.subject, resource);
    const satisfied = request.permissions.filter((permission) => granted.has(permission));
    const missing = request.permissions.filter((permission) => !granted.has(permission));
    if (missing.length > 0 && resource.type !== RESOURCE_CLUSTER) {
      // The stand-in keeps no repo or project role bindings.
      throw this.noRoleBinding(resource);
    }
    return { authorized: missing.length === 0, satisfied, missing, principal: caller.subject };
  }

  private getRobotToken(request: GetRobotTokenRequest, call: PachdCall): { token: string } {
    this.requireClusterPermission(call, PERMISSION.CLUSTER_AUTH_GET_ROBOT_TOKEN);
    const name = request.robot.startsWith('robot:') ? request.robot.slice('robot:'.length) : request.robot;
    if (name.includes(':')) throw plainGoError("robot names cannot contain colons (':')");
    const ttl = int64ToNumber(request.ttl);
    const token = newPachToken();
    this.checkSubjectColumn(`robot:${name}`, 'error getting robot token');
    this.tokens.insert(
      {
        hash: hashPachToken(token),
        subject: `robot:${name}`,
        expiresAtMs: ttl > 0 ? this.clock.nowMs() + ttl * 1000 : null,
        source: TokenSource.INVALID,
      },
      'GetRobotToken',
    );
    return { token };
  }

  private restoreAuthToken(request: RestoreAuthTokenRequest, call: PachdCall): object {
    this.requireClusterPermission(call, PERMISSION.CLUSTER_AUTH_RESTORE_TOKEN);
    const restored = request.token;
    if (restored === null || restored === undefined) {
      if (this.version.isAtLeast(2, 8, 0)) {
        throw new PachdStatusError(
          grpc.status.INVALID_ARGUMENT,
          'validate request: invalid RestoreAuthTokenRequest.Token: value is required',
        );
      }
      throw new PachdStatusError(
        grpc.status.INTERNAL,
        'RestoreAuthTokenRequest.token is unset (pachd before 2.8.0 dereferences it unchecked)',
      );
    }
    let ttl = 0;
    if (restored.expiration !== null && restored.expiration !== undefined) {
      // int64(time.Until(t).Seconds()): truncated toward zero, so less than a second left (or
      // less than a second past) stores a row with no expiry at all.
      ttl = Math.trunc((msFromTimestamp(restored.expiration) - this.clock.nowMs()) / 1000);
      if (ttl < 0) throw this.errors.expiredToken();
    }
    if (restored.subject === '' && this.version.isAtLeast(2, 11, 0)) {
      // Observed on 2.11.6 (code Unknown, text not recorded). 2.11.0 began recording every
      // token's subject in auth.principals, the likeliest place an empty one is refused; earlier
      // releases validate nothing (pachd-auth-api.md 2.4).
      throw plainGoError(
        'error restoring auth token: the database refused an empty subject (the stand-in does not reproduce pachd\'s exact text)',
      );
    }
    this.checkSubjectColumn(restored.subject, 'error restoring auth token');
    const inserted = this.tokens.insert(
      {
        hash: restored.hashed_token,
        subject: restored.subject,
        expiresAtMs: ttl > 0 ? this.clock.nowMs() + ttl * 1000 : null,
        source: TokenSource.INVALID,
      },
      'RestoreAuthToken',
    );
    if (!inserted) {
      throw plainGoError(
        'error restoring auth token: cannot overwrite existing token with same hash',
      );
    }
    return {};
  }

  private rotateRootToken(request: RotateRootTokenRequest, call: PachdCall): { root_token: string } {
    this.requireClusterPermission(call, PERMISSION.CLUSTER_AUTH_ROTATE_ROOT_TOKEN);
    const token = request.root_token === '' ? newPachToken() : request.root_token;
    const hash = hashPachToken(token);
    // pachd deletes root's tokens and inserts the new one in one transaction: a value whose hash
    // another subject's token already has fails the insert, and the deletion rolls back with it.
    const existing = this.tokens.get(hash);
    if (existing !== undefined && existing.subject !== ROOT_USER) {
      throw plainGoError('cannot overwrite existing token with same hash');
    }
    this.tokens.deleteSubject(ROOT_USER);
    this.tokens.insert({ hash, subject: ROOT_USER, expiresAtMs: null, source: TokenSource.INVALID }, 'RotateRootToken');
    this.currentRootToken = token;
    return { root_token: token };
  }

  // ---- rules ----

  /**
   * auth.auth_tokens.subject is varchar(64), varchar(128) from 2.5.4's migration: PostgreSQL
   * refuses a longer subject and the insert's transaction rolls back.
   */
  private checkSubjectColumn(subject: string, doing: string): void {
    const limit = this.version.isAtLeast(2, 5, 4) ? 128 : 64;
    if (subject.length > limit) {
      throw plainGoError(`${doing}: ERROR: value too long for type character varying(${limit}) (SQLSTATE 22001)`);
    }
  }

  /**
   * getAuthenticatedUser: auth must be on, exactly one token, a row for its hash, and that row
   * not past its expiry. Every interceptor rule starts here.
   */
  private authenticatedCaller(call: PachdCall): StoredToken {
    if (!this.active) throw this.errors.notActivated();
    this.runScheduledCleanup();
    const caller = callerTokenFrom(call.metadata);
    if (caller.kind === 'missing') throw this.errors.notSignedIn();
    if (caller.kind === 'several') throw this.errors.severalTokens();
    const token = this.tokens.get(hashPachToken(caller.token));
    if (token === undefined) throw this.errors.badToken();
    if (token.expiresAtMs !== null && this.clock.nowMs() > token.expiresAtMs) {
      throw this.errors.expiredToken();
    }
    return token;
  }

  /** The interceptor's clusterPermissions rule: Authorize on {type: CLUSTER}. */
  private requireClusterPermission(call: PachdCall, permission: number): StoredToken {
    const caller = this.authenticatedCaller(call);
    if (!this.holdsClusterPermission(caller.subject, permission)) {
      throw this.notAuthorized(caller.subject, [permission]);
    }
    return caller;
  }

  private holdsClusterPermission(principal: string, permission: number): boolean {
    for (const holder of [principal, ALL_CLUSTER_USERS]) {
      for (const roleName of this.clusterBinding.get(holder) ?? []) {
        if (this.roles.get(roleName)?.permissionSet.has(permission) === true) return true;
      }
    }
    return false;
  }

  /** Cluster-binding permissions of a principal, including what allClusterUsers holds. */
  private grantedPermissions(principal: string, resource: ResourceMessage): Set<number> {
    const granted = new Set<number>();
    for (const roleName of this.clusterRolesOf(principal)) {
      const role = this.roles.get(roleName);
      if (role === undefined) continue;
      if (resource.type !== RESOURCE_CLUSTER && !role.returnedFor.includes(resource.type)) continue;
      for (const permission of role.permissions) granted.add(permission);
    }
    return granted;
  }

  private clusterRolesOf(principal: string): string[] {
    const roles = new Set<string>(this.clusterBinding.get(principal) ?? []);
    for (const role of this.clusterBinding.get(ALL_CLUSTER_USERS) ?? []) roles.add(role);
    return [...roles];
  }

  private permissionsOf(principal: string, resource: ResourceMessage): GetPermissionsResponse {
    const roleNames = this.clusterRolesOf(principal)
      .filter((name) => this.roles.get(name)?.returnedFor.includes(resource.type) ?? false)
      .sort();
    if (roleNames.length === 0 && resource.type !== RESOURCE_CLUSTER) {
      throw plainGoError(
        `cannot get permissions for principal: cannot evaluate role binding: ${this.noRoleBinding(resource).message}`,
      );
    }
    const permissions: number[] = [];
    for (const name of roleNames) permissions.push(...(this.roles.get(name)?.permissions ?? []));
    return { permissions, roles: roleNames };
  }

  private requiredResource(resource: ResourceMessage | null, requestName: string): ResourceMessage {
    if (resource !== null && resource !== undefined) return resource;
    if (this.version.isAtLeast(2, 8, 0)) {
      throw new PachdStatusError(
        grpc.status.INVALID_ARGUMENT,
        `validate request: invalid ${requestName}.Resource: value is required`,
      );
    }
    throw new PachdStatusError(
      grpc.status.INTERNAL,
      `${requestName}.resource is unset (pachd before 2.8.0 dereferences it unchecked)`,
    );
  }

  private notAuthorized(principal: string, permissions: readonly number[]): PachdStatusError {
    const names = permissions.map((number) => this.permissionNames.get(number) ?? String(number));
    const message =
      `${principal} is not authorized to perform this operation - needs permissions ` +
      `[${names.join(' ')}] on CLUSTER . Run \`pachctl auth roles-for-permission\` to find ` +
      'roles that grant a given permission.';
    // ErrNotAuthorized gained a GRPCStatus method (PermissionDenied) in 2.7.0.
    return new PachdStatusError(
      this.version.isAtLeast(2, 7, 0) ? grpc.status.PERMISSION_DENIED : grpc.status.UNKNOWN,
      message,
    );
  }

  private noRoleBinding(resource: ResourceMessage): PachdStatusError {
    const typeName = this.resourceTypeNames.get(resource.type) ?? String(resource.type);
    return plainGoError(`no role binding exists for ${typeName} ${resource.name}`);
  }

  /** The Revoke responses gained their `number` field in 2.5.0; before, they are empty. */
  private countResponse(deleted: number): { number?: number } {
    return this.version.isAtLeast(2, 5, 0) ? { number: deleted } : {};
  }

  private tokenInfoMessage(token: StoredToken): TokenInfoMessage {
    return {
      subject: token.subject,
      expiration: token.expiresAtMs === null ? null : timestampFromMs(token.expiresAtMs),
      hashed_token: token.hash,
    };
  }

  /**
   * Replays the 24-hourly `DELETE ... WHERE NOW() > expiration` against the stand-in clock, so
   * advancing the clock by days purges what pachd would have purged by then. Only the latest
   * tick matters: each one deletes a superset of what the previous one did.
   */
  private runScheduledCleanup(): void {
    const now = this.clock.nowMs();
    if (now < this.nextCleanupAtMs) return;
    const ticksPassed = Math.floor((now - this.nextCleanupAtMs) / CLEANUP_INTERVAL_MS);
    const lastTick = this.nextCleanupAtMs + ticksPassed * CLEANUP_INTERVAL_MS;
    this.tokens.deleteExpired(lastTick, false);
    this.nextCleanupAtMs = lastTick + CLEANUP_INTERVAL_MS;
  }

  /** Activate's effect: the cluster binding of the emulated release and a root token. */
  private bootstrap(rootToken: string, origin: TokenOrigin): void {
    this.tokens.clear();
    this.clusterBinding.clear();
    this.clusterBinding.set(ROOT_USER, new Set(['clusterAdmin']));
    if (this.version.isAtLeast(2, 5, 0)) {
      this.clusterBinding.set(INTERNAL_AUTH_USER, new Set(['clusterAdmin']));
      this.clusterBinding.set(ALL_CLUSTER_USERS, new Set(['projectCreator']));
    }
    this.tokens.insert(
      { hash: hashPachToken(rootToken), subject: ROOT_USER, expiresAtMs: null, source: TokenSource.INVALID },
      origin,
    );
    this.currentRootToken = rootToken;
    this.active = true;
    this.wiped = false;
  }

  // ---- control surface ----

  listTokens(): TokenView[] {
    this.runScheduledCleanup();
    const now = this.clock.nowMs();
    return this.tokens.all().map((token) => ({
      hash: token.hash,
      subject: token.subject,
      expiresAt: token.expiresAtMs === null ? null : new Date(token.expiresAtMs).toISOString(),
      expiresAtMs: token.expiresAtMs,
      ttlSeconds:
        token.expiresAtMs === null ? -1 : Math.max(0, Math.floor((token.expiresAtMs - now) / 1000)),
      expired: token.expiresAtMs !== null && now > token.expiresAtMs,
    }));
  }

  createToken(spec: CreateTokenSpec): CreatedToken {
    if (spec.roles !== undefined) this.checkRoleNames(spec.roles);
    const token = spec.token ?? newPachToken();
    const hash = hashPachToken(token);
    const ttl = spec.ttlSeconds ?? 0;
    const expiresAtMs = ttl > 0 ? this.clock.nowMs() + ttl * 1000 : null;
    const inserted = this.tokens.insert(
      { hash, subject: spec.subject, expiresAtMs, source: TokenSource.INVALID },
      'control',
    );
    if (!inserted) throw new Error('a token with the same hash already exists');
    if (spec.roles !== undefined) this.setClusterRoles(spec.subject, spec.roles);
    return {
      token,
      hash,
      subject: spec.subject,
      expiresAt: expiresAtMs === null ? null : new Date(expiresAtMs).toISOString(),
    };
  }

  deleteToken(hash: string): boolean {
    return this.tokens.delete(hash);
  }

  clusterRoleBindings(): Record<string, string[]> {
    const bindings: Record<string, string[]> = {};
    for (const [principal, roles] of this.clusterBinding) bindings[principal] = [...roles].sort();
    return bindings;
  }

  setClusterRoles(principal: string, roles: readonly string[]): void {
    this.checkRoleNames(roles);
    if (roles.length === 0) this.clusterBinding.delete(principal);
    else this.clusterBinding.set(principal, new Set(roles));
  }

  deactivate(wipe: boolean): void {
    this.active = false;
    if (wipe) {
      this.tokens.clear();
      this.clusterBinding.clear();
      this.wiped = true;
    }
  }

  activate(): string {
    if (this.wiped) this.bootstrap(newPachToken(), 'bootstrap');
    this.active = true;
    return this.currentRootToken;
  }

  purgeExpired(): number {
    return this.tokens.deleteExpired(this.clock.nowMs(), false);
  }

  private checkRoleNames(roles: readonly string[]): void {
    for (const role of roles) {
      if (!this.roles.has(role)) {
        throw new Error(
          `the stand-in knows the 2.x roles ${[...this.roles.keys()].join(', ')}, not ${JSON.stringify(role)}`,
        );
      }
    }
  }
}
