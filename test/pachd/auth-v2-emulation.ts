import { AuthEmulationBase, ROOT_USER, type ExpiryRule } from './auth-emulation-base';
import type { CreateProjectSpec, CreateRepoSpec, ResourceBindingView, PachdAuthEmulation } from './pachd-emulation';
import {
  type PachdCall,
  type PachdUnaryHandler,
  type TimestampMessage,
  int64ToNumber,
  timestampFromMs,
  typedHandler,
} from './pachd-methods';
import type {
  ActivateRequest,
  GetRobotTokenRequest,
  RevokeAuthTokenRequest,
  RevokeAuthTokensForUserRequest,
  ModifyRoleBindingRequest,
  GetRoleBindingRequest,
  TokenInfoMessage,
  RestoreAuthTokenRequest,
  RotateRootTokenRequest,
  AuthorizeRequest,
  GetPermissionsRequest,
  GetPermissionsForPrincipalRequest,
  GetPermissionsResponse,
} from './auth-v2-messages';
import { PachdStatusError, plainGoError } from './pachd-status';
import type { PachdVersion } from './pachd-version';
import { RoleBindingsV2 } from './role-bindings-v2';
import { PERMISSION, RESOURCE_CLUSTER, type ResourceMessage } from './role-catalogue-v2';
import type { StandinClock } from './standin-clock';
import type { TokenHistory } from './token-history';
import { type StoredToken, TokenSource, hashPachToken, newPachToken } from './token-store';

const INTERNAL_AUTH_USER = 'internal:auth-server';
/** pachd deletes expired rows at startup and then every cleanupIntervalHours = 24. */
const CLEANUP_INTERVAL_MS = 24 * 60 * 60 * 1000;

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
export class AuthV2Emulation extends AuthEmulationBase implements PachdAuthEmulation {
  readonly generation = 2 as const;
  readonly authService = 'auth_v2.API';

  protected readonly expiry: ExpiryRule = { endsAtExpiry: false, expiredRowsLinger: true };
  protected readonly sources = { root: TokenSource.INVALID, control: TokenSource.INVALID };

  /** Cluster, project and repo bindings, and which projects and repos exist. */
  private readonly bindings: RoleBindingsV2;
  private nextCleanupAtMs: number;

  constructor(options: AuthV2Options) {
    super(2, options.version, options.clock, options.history);
    this.bindings = new RoleBindingsV2(options.version, options.permissionNames, options.resourceTypeNames);
    this.nextCleanupAtMs = this.clock.nowMs() + CLEANUP_INTERVAL_MS;
    this.bootstrap(ROOT_USER, options.rootToken ?? newPachToken(), 'bootstrap');
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
      ['Authorize', typedHandler((request: AuthorizeRequest, call: PachdCall) => this.authorize(request, call))],
      [
        'GetPermissions',
        typedHandler((request: GetPermissionsRequest, call: PachdCall) => {
          const caller = this.authenticatedCaller(call);
          const resource = this.requiredResource(request.resource, 'GetPermissionsRequest');
          return this.permissionsOf(caller.subject, resource, 'cannot get permissions for principal: ');
        }),
      ],
      [
        'GetPermissionsForPrincipal',
        typedHandler((request: GetPermissionsForPrincipalRequest, call: PachdCall) => {
          this.requireClusterPermission(call, perm.CLUSTER_AUTH_GET_PERMISSIONS_FOR_PRINCIPAL);
          const resource = this.requiredResource(request.resource, 'GetPermissionsForPrincipalRequest');
          return this.permissionsOf(request.principal, resource, '');
        }),
      ],
      [
        'ModifyRoleBinding',
        typedHandler((request: ModifyRoleBindingRequest, call: PachdCall) => {
          const caller = this.authenticatedCaller(call);
          const resource = this.requiredResource(request.resource, 'ModifyRoleBindingRequest');
          this.bindings.modify(caller.subject, resource, request.principal, request.roles);
          return {};
        }),
      ],
      [
        'GetRoleBinding',
        typedHandler((request: GetRoleBindingRequest, call: PachdCall) => {
          this.authenticatedCaller(call);
          return this.bindings.get(this.requiredResource(request.resource, 'GetRoleBindingRequest'));
        }),
      ],
      [
        'GetRobotToken',
        typedHandler((request: GetRobotTokenRequest, call: PachdCall) => this.getRobotToken(request, call)),
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
        typedHandler((request: RestoreAuthTokenRequest, call: PachdCall) => this.restoreAuthToken(request, call)),
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
        typedHandler((request: RotateRootTokenRequest, call: PachdCall) => this.rotateRootToken(request, call)),
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
    this.bootstrap(ROOT_USER, token, 'Activate');
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
    const { satisfied, missing } = this.bindings.authorize(caller.subject, resource, request.permissions);
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
    if (restored === null || restored === undefined) throw this.errors.unsetField('RestoreAuthTokenRequest', 'token');
    // A ttl of 0 stores a row with no expiry at all.
    const ttl = this.restoredTtlSeconds(restored.expiration);
    if (restored.subject === '' && this.version.isAtLeast(2, 11, 0)) {
      // Observed on 2.11.6 (code Unknown, text not recorded). 2.11.0 began recording every
      // token's subject in auth.principals, the likeliest place an empty one is refused; earlier
      // releases validate nothing (docs/pachd-auth-api.md §11).
      throw plainGoError(
        "error restoring auth token: the database refused an empty subject (the stand-in does not reproduce pachd's " +
          'exact text)',
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
    if (!inserted) throw this.errors.duplicateTokenHash();
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
   * not past its expiry (authenticatedCaller). Every interceptor rule starts here.
   */
  protected override beforeAuthenticating(): void {
    this.requireActive();
    this.runScheduledCleanup();
  }

  /** The interceptor's clusterPermissions rule: Authorize on {type: CLUSTER}. */
  private requireClusterPermission(call: PachdCall, permission: number): StoredToken {
    const caller = this.authenticatedCaller(call);
    if (!this.bindings.holdsClusterPermission(caller.subject, permission)) {
      throw this.bindings.notAuthorized(caller.subject, [permission], { type: RESOURCE_CLUSTER, name: '' });
    }
    return caller;
  }

  /**
   * GetPermissions and GetPermissionsForPrincipal; pachd wraps evaluation failures (a missing
   * project or repo binding) in "cannot evaluate role binding: ", GetPermissions once more.
   */
  private permissionsOf(principal: string, resource: ResourceMessage, outerWrap: string): GetPermissionsResponse {
    try {
      return this.bindings.permissionsOf(principal, resource);
    } catch (error) {
      if (!(error instanceof PachdStatusError)) throw error;
      throw new PachdStatusError(error.code, `${outerWrap}cannot evaluate role binding: ${error.message}`);
    }
  }

  private requiredResource(resource: ResourceMessage | null, requestName: string): ResourceMessage {
    if (resource !== null && resource !== undefined) return resource;
    throw this.errors.unsetField(requestName, 'resource');
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

  // ---- what the base leaves to the generation ----

  protected presentToken(hash: string): StoredToken | undefined {
    return this.tokens.get(hash);
  }

  protected heldTokens(): StoredToken[] {
    this.runScheduledCleanup();
    return this.tokens.all();
  }

  /** Activate's effect: the cluster binding of the emulated release. */
  protected bindRoot(subject: string): void {
    this.bindings.activate(subject, INTERNAL_AUTH_USER);
  }

  protected wipeBindings(): void {
    this.bindings.wipe();
  }

  protected checkRoleNames(roles: readonly string[]): void {
    this.bindings.checkRoleNames(roles);
  }

  // ---- control surface ----

  clusterRoleBindings(): Record<string, string[]> {
    return this.bindings.clusterEntries();
  }

  setClusterRoles(principal: string, roles: readonly string[]): void {
    this.bindings.setClusterRoles(principal, roles);
  }

  createProject(spec: CreateProjectSpec): ResourceBindingView {
    return this.bindings.createProject(spec.name, spec.owner, this.active);
  }

  deleteProject(name: string): boolean {
    return this.bindings.deleteProject(name);
  }

  createRepo(spec: CreateRepoSpec): ResourceBindingView {
    return this.bindings.createRepo(spec.project, spec.name, spec.owner, this.active);
  }

  deleteRepo(project: string | undefined, name: string): boolean {
    return this.bindings.deleteRepo(project, name);
  }

  resourceBindings(): ResourceBindingView[] {
    return this.bindings.listBindings();
  }
}
