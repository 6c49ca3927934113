import { AuthEmulationBase, ROOT_USER, type ExpiryRule } from './auth-emulation-base';
import { adminGrants, ClusterRolesV1, notAnAdmin } from './cluster-roles-v1';
import { canonicalV1Subject } from './subjects-v1';
import { extendCap, grantedTtl, leaseExpiryMs } from './token-lifetimes-v1';
import type {
  CreateProjectSpec,
  CreateRepoSpec,
  ResourceBindingView,
  PachdAuthEmulation,
  TokenView,
} from './pachd-emulation';
import { type PachdCall, type PachdUnaryHandler, int64ToNumber, timestampFromMs, typedHandler } from './pachd-methods';
import type {
  ActivateRequest,
  ModifyAdminsRequest,
  GetAuthTokenRequest,
  ExtendAuthTokenRequest,
  RevokeAuthTokenRequest,
  SetScopeRequest,
  GetScopeRequest,
  GetAclRequest,
  HashedAuthTokenMessage,
  RestoreAuthTokenRequest,
  WhoAmIResponse,
} from './auth-v1-messages';
import { plainGoError } from './pachd-status';
import type { PachdVersion } from './pachd-version';
import { type AclCallerContext, RepoAclsV1 } from './repo-acls-v1';
import type { StandinClock } from './standin-clock';
import type { TokenHistory, TokenOrigin } from './token-history';
import { type StoredToken, TokenSource, hashPachToken, newPachToken } from './token-store';

/** Where 1.x pachd keeps token hashes in etcd; it surfaces in one pre-1.13.3 error text. */
const ETCD_TOKEN_KEY_PREFIX = 'pachyderm/1.7.0/pachyderm_auth/tokens/';

export interface AuthV1Options {
  version: PachdVersion;
  clock: StandinClock;
  /** ID-provider names accepted as subject prefixes (`okta:alice@example.com`). */
  idps: readonly string[];
  /** Where every token insert is recorded. */
  history: TokenHistory;
  rootToken?: string;
}

/**
 * Pachyderm 1.x auth (`auth.API`) over an in-memory token table. Tokens live like etcd keys
 * with leases: an expired one is simply gone. Admin means holding the SUPER cluster role.
 */
export class AuthV1Emulation extends AuthEmulationBase implements PachdAuthEmulation {
  readonly generation = 1 as const;
  readonly authService = 'auth.API';

  protected readonly expiry: ExpiryRule = { endsAtExpiry: true, expiredRowsLinger: false };
  protected readonly sources = { root: TokenSource.AUTHENTICATE, control: TokenSource.GET_TOKEN };

  private readonly idps: ReadonlySet<string>;
  private readonly clusterRoles = new ClusterRolesV1();
  /** Repo ACLs and which repos exist. */
  private readonly acls = new RepoAclsV1();

  constructor(options: AuthV1Options) {
    super(1, options.version, options.clock, options.history);
    this.idps = new Set(options.idps);
    this.bootstrap(ROOT_USER, options.rootToken ?? newPachToken(), 'bootstrap');
  }

  handlers(): Map<string, PachdUnaryHandler> {
    return new Map<string, PachdUnaryHandler>([
      ['Activate', typedHandler((request: ActivateRequest) => this.activateRpc(request))],
      ['Deactivate', typedHandler((_request: object, call: PachdCall) => this.deactivateRpc(call))],
      ['WhoAmI', typedHandler((_request: object, call: PachdCall) => this.whoAmI(call))],
      ['GetAdmins', typedHandler((_request: object, call: PachdCall) => this.getAdmins(call))],
      [
        'ModifyAdmins',
        typedHandler((request: ModifyAdminsRequest, call: PachdCall) => this.modifyAdmins(request, call)),
      ],
      [
        'GetAuthToken',
        typedHandler((request: GetAuthTokenRequest, call: PachdCall) => this.getAuthToken(request, call)),
      ],
      [
        'ExtendAuthToken',
        typedHandler((request: ExtendAuthTokenRequest, call: PachdCall) => this.extendAuthToken(request, call)),
      ],
      [
        'RevokeAuthToken',
        typedHandler((request: RevokeAuthTokenRequest, call: PachdCall) => this.revokeAuthToken(request, call)),
      ],
      ['ExtractAuthTokens', typedHandler((_request: object, call: PachdCall) => this.extractAuthTokens(call))],
      [
        'SetScope',
        typedHandler((request: SetScopeRequest, call: PachdCall) => this.acls.setScope(this.aclCaller(call), request)),
      ],
      [
        'GetScope',
        typedHandler((request: GetScopeRequest, call: PachdCall) => this.acls.getScope(this.aclCaller(call), request)),
      ],
      [
        'GetACL',
        typedHandler((request: GetAclRequest, call: PachdCall) => this.acls.getAcl(this.aclCaller(call), request.repo)),
      ],
      [
        'RestoreAuthToken',
        typedHandler((request: RestoreAuthTokenRequest, call: PachdCall) => this.restoreAuthToken(request, call)),
      ],
    ]);
  }

  isAbsentInRelease(method: string): boolean {
    // Extract/Restore arrived with the 1.11.9 backport; 1.11.0 to 1.11.8 and older lack them.
    if (method === 'ExtractAuthTokens' || method === 'RestoreAuthToken') {
      return !this.version.isAtLeast(1, 11, 9);
    }
    return false;
  }

  // ---- RPCs ----

  private activateRpc(request: ActivateRequest): { pach_token: string } {
    if (this.active) throw plainGoError('already activated');
    let subject = request.subject === '' ? '' : canonicalV1Subject(this.version, this.idps, request.subject);
    const rootTokenHonoured = request.root_token !== '' && this.version.isAtLeast(1, 11, 9);
    if (rootTokenHonoured) subject = ROOT_USER;
    if (subject === '' || subject.startsWith('github:')) {
      // Without a GitHub IdP configured pachd cannot verify the GitHub token it would need.
      throw plainGoError('GitHub auth is not enabled on this cluster');
    }
    if (!subject.startsWith('pach:') && !subject.startsWith('robot:')) {
      throw plainGoError(`invalid subject in request (must be a GitHub user or robot): "${subject}"`);
    }
    const token = rootTokenHonoured ? request.root_token : newPachToken();
    this.bootstrap(subject, token, 'Activate');
    return { pach_token: token };
  }

  private deactivateRpc(call: PachdCall): object {
    this.requireActive();
    const caller = this.authenticatedCaller(call);
    if (!this.clusterRoles.isAdmin(caller.subject)) throw notAnAdmin(caller.subject, 'DeactivateAuth');
    this.deactivate(true);
    return {};
  }

  private whoAmI(call: PachdCall): WhoAmIResponse {
    this.requireActive();
    const caller = this.authenticatedCaller(call);
    const response: WhoAmIResponse = {
      username: caller.subject,
      is_admin: this.clusterRoles.isAdmin(caller.subject),
    };
    if (this.version.isAtLeast(1, 7, 5)) response.ttl = this.remainingSeconds(caller);
    if (this.version.isAtLeast(1, 11, 0)) {
      response.cluster_roles = {
        roles: this.clusterRoles.roleNumbers(caller.subject),
      };
    }
    return response;
  }

  private getAdmins(call: PachdCall): { admins: string[] } {
    this.requireActive();
    this.authenticatedCaller(call);
    return { admins: this.clusterRoles.superHolders().sort() };
  }

  private modifyAdmins(request: ModifyAdminsRequest, call: PachdCall): object {
    const grants = adminGrants(request, this.version);
    this.requireActive();
    const caller = this.authenticatedCaller(call);
    if (!this.clusterRoles.isAdmin(caller.subject)) {
      throw notAnAdmin(caller.subject, this.version.isAtLeast(1, 11, 0) ? 'ModifyClusterRoleBinding' : 'ModifyAdmins');
    }
    this.clusterRoles.applyAdminGrants(grants, (principal) => canonicalV1Subject(this.version, this.idps, principal));
    return {};
  }

  private getAuthToken(request: GetAuthTokenRequest, call: PachdCall): { token: string; subject?: string } {
    this.requireActive();
    const version = this.version;
    const requestedTtl = int64ToNumber(request.ttl);
    if (!version.isAtLeast(1, 9, 8) && request.subject === '') {
      throw plainGoError('must set GetAuthTokenRequest.Subject');
    }
    if (version.isAtLeast(1, 9, 8) && !version.isAtLeast(1, 11, 0) && requestedTtl < 0) {
      throw plainGoError('GetAuthTokenRequest.TTL must be >= 0');
    }
    const caller = this.authenticatedCaller(call);
    const isAdmin = this.clusterRoles.isAdmin(caller.subject);
    if (version.isAtLeast(1, 11, 0) && requestedTtl < 0 && !isAdmin) {
      throw plainGoError('GetAuthTokenRequest.TTL must be >= 0');
    }
    let subject = caller.subject;
    if (request.subject !== '') {
      subject = canonicalV1Subject(this.version, this.idps, request.subject);
      if (!isAdmin && subject !== caller.subject) {
        const adminOp =
          version.isAtLeast(1, 7, 11) && !version.isAtLeast(1, 9, 8)
            ? 'GetOneTimePassword on behalf of another user'
            : 'GetAuthToken on behalf of another user';
        throw notAnAdmin(caller.subject, adminOp);
      }
    }
    // The check runs on the resolved subject, so even root asking for itself is refused.
    if (version.isAtLeast(1, 11, 9) && subject.startsWith('pach:')) {
      throw plainGoError('GetAuthTokenRequest.Subject is invalid');
    }
    const ttl = grantedTtl(this.version, requestedTtl, isAdmin, this.remainingSeconds(caller));
    const token = newPachToken();
    this.insertToken(
      {
        hash: hashPachToken(token),
        subject,
        expiresAtMs: leaseExpiryMs(this.clock.nowMs(), ttl),
        source: TokenSource.GET_TOKEN,
      },
      'GetAuthToken',
    );
    return version.isAtLeast(1, 7, 1) ? { token, subject } : { token };
  }

  private extendAuthToken(request: ExtendAuthTokenRequest, call: PachdCall): object {
    this.requireActive();
    const ttl = int64ToNumber(request.ttl);
    if (ttl === 0) throw plainGoError('invalid request: ExtendAuthTokenRequest.TTL must be > 0');
    const caller = this.authenticatedCaller(call);
    if (!this.clusterRoles.isAdmin(caller.subject)) throw notAnAdmin(caller.subject, 'ExtendAuthToken');
    const cap = extendCap(this.version);
    if (ttl > cap) throw plainGoError(`can only extend tokens by at most ${cap} seconds`);
    const target = this.liveToken(hashPachToken(request.token));
    if (target === undefined) throw this.errors.badToken();
    // A token without expiry reports -1, so any positive ttl passes: the one way to give an
    // unbounded token a lifetime.
    const existing = this.remainingSeconds(target);
    if (ttl < existing) {
      throw plainGoError(`provided TTL (${ttl}) is shorter than token's existing TTL (${existing})`);
    }
    target.expiresAtMs = leaseExpiryMs(this.clock.nowMs(), ttl);
    return {};
  }

  private revokeAuthToken(request: RevokeAuthTokenRequest, call: PachdCall): object {
    this.requireActive();
    const caller = this.authenticatedCaller(call);
    const isAdmin = this.clusterRoles.isAdmin(caller.subject);
    const hash = hashPachToken(request.token);
    const target = this.liveToken(hash);
    if (target === undefined) {
      if (this.version.isAtLeast(1, 13, 3)) throw this.errors.revokeUnknownToken();
      // Up to 1.11.7 a missing key ended the transaction early with success, for anyone.
      if (!this.version.isAtLeast(1, 11, 8)) return {};
      // 1.11.8 to 1.13.2 fell through: the empty owner fails the ownership test for non-admins,
      // and for admins the collection's Delete reports the missing etcd key.
      if (!isAdmin) throw notAnAdmin(caller.subject, "RevokeAuthToken on another user's token");
      throw plainGoError(` ${ETCD_TOKEN_KEY_PREFIX}${hash} not found`);
    }
    if (!isAdmin && target.subject !== caller.subject) {
      throw notAnAdmin(caller.subject, "RevokeAuthToken on another user's token");
    }
    this.tokens.delete(hash);
    return {};
  }

  private extractAuthTokens(call: PachdCall): { tokens: HashedAuthTokenMessage[] } {
    this.requireActive();
    const caller = this.authenticatedCaller(call);
    if (!this.clusterRoles.isAdmin(caller.subject)) throw notAnAdmin(caller.subject, 'ExtractAuthTokens');
    const now = this.clock.nowMs();
    const extracted: HashedAuthTokenMessage[] = [];
    for (const token of this.tokens.all()) {
      if (!token.subject.startsWith('robot:') || this.liveToken(token.hash) === undefined) continue;
      const ttl = this.remainingSeconds(token);
      extracted.push({
        hashed_token: token.hash,
        token_info: { subject: token.subject, source: token.source },
        expiration: ttl === -1 ? null : timestampFromMs(now + ttl * 1000),
      });
    }
    return { tokens: extracted };
  }

  private restoreAuthToken(request: RestoreAuthTokenRequest, call: PachdCall): object {
    this.requireActive();
    const caller = this.authenticatedCaller(call);
    if (!this.clusterRoles.isAdmin(caller.subject)) throw notAnAdmin(caller.subject, 'RestoreAuthToken');
    const restored = request.token;
    if (restored === null || restored === undefined) throw this.errors.unsetField('RestoreAuthTokenRequest', 'token');
    // A ttl of 0 stores the token with no lease at all.
    const ttl = this.restoredTtlSeconds(restored.expiration);
    if (this.liveToken(restored.hashed_token) !== undefined) throw this.errors.duplicateTokenHash();
    this.insertToken(
      {
        hash: restored.hashed_token,
        subject: restored.token_info?.subject ?? '',
        source: restored.token_info?.source ?? TokenSource.INVALID,
        expiresAtMs: leaseExpiryMs(this.clock.nowMs(), ttl),
      },
      'RestoreAuthToken',
    );
    return {};
  }

  // ---- rules ----

  /** SetScope, GetScope and GetACL check activation before anything else, then the caller. */
  private aclCaller(call: PachdCall): AclCallerContext {
    this.requireActive();
    return {
      authenticatedSubject: () => this.authenticatedCaller(call).subject,
      // hasClusterRole(FS): SUPER, which includes every cluster role, or FS itself.
      isAdminOrFs: (subject) => this.clusterRoles.holdsAny(subject),
      canonicalizeSubject: (subject) => canonicalV1Subject(this.version, this.idps, subject),
    };
  }

  private insertToken(token: StoredToken, origin: TokenOrigin): void {
    this.tokens.insertSweeping(token, origin, this.clock.nowMs());
  }

  /** The token if its lease has not run out; an expired one is deleted, as etcd would. */
  private liveToken(hash: string): StoredToken | undefined {
    const token = this.tokens.get(hash);
    if (token === undefined) return undefined;
    if (this.isExpired(token, this.clock.nowMs())) {
      this.tokens.delete(hash);
      return undefined;
    }
    return token;
  }

  // ---- what the base leaves to the generation ----

  protected presentToken(hash: string): StoredToken | undefined {
    return this.liveToken(hash);
  }

  protected heldTokens(): StoredToken[] {
    return this.tokens.all().filter((token) => this.liveToken(token.hash) !== undefined);
  }

  protected bindRoot(subject: string): void {
    this.clusterRoles.clear();
    this.clusterRoles.set(subject, ['SUPER']);
  }

  protected wipeBindings(): void {
    this.clusterRoles.clear();
    this.acls.wipe();
  }

  protected override viewExtras(token: StoredToken): Partial<TokenView> {
    return { source: TokenSource[token.source] ?? String(token.source) };
  }

  // ---- control surface ----

  clusterRoleBindings(): Record<string, string[]> {
    return this.clusterRoles.entries();
  }

  setClusterRoles(principal: string, roles: readonly string[]): void {
    this.clusterRoles.set(principal, roles);
  }

  createRepo(spec: CreateRepoSpec): ResourceBindingView {
    return this.acls.createRepo(spec, this.active);
  }

  deleteRepo(project: string | undefined, name: string): boolean {
    if (project !== undefined) return false;
    return this.acls.deleteRepo(name);
  }

  createProject(_spec: CreateProjectSpec): ResourceBindingView {
    throw new Error('pachd 1.x has no projects');
  }

  deleteProject(): boolean {
    return false;
  }

  /** The cluster roles (SUPER, FS), then each repo's ACL as scope names. */
  resourceBindings(): ResourceBindingView[] {
    return [{ type: 'cluster', name: '', entries: this.clusterRoleBindings() }, ...this.acls.views()];
  }

  protected checkRoleNames(roles: readonly string[]): void {
    this.clusterRoles.checkRoleNames(roles);
  }
}
