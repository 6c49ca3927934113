/**
 * @file
 * What the two generations' auth emulations share: the token table and whether auth is on,
 * authenticating a call's caller, the arithmetic of token lifetimes, and the control surface's
 * direct operations. Each generation supplies where its tokens' lifetimes differ (1.x keys vanish
 * with their etcd lease, 2.x rows outlive their expiry until a cleanup) and its role bindings.
 */

import { callerTokenFrom } from './caller-token';
import { PachdAuthErrors } from './pachd-auth-errors';
import type { CreatedToken, CreateTokenSpec, TokenView } from './pachd-emulation';
import { msFromTimestamp, type PachdCall, type TimestampMessage } from './pachd-methods';
import type { PachdGeneration, PachdVersion } from './pachd-version';
import type { StandinClock } from './standin-clock';
import type { TokenHistory, TokenOrigin } from './token-history';
import { type StoredToken, type TokenSource, TokenStore, hashPachToken, newPachToken } from './token-store';

export const ROOT_USER = 'pach:root';

/** How a generation's tokens end. */
export interface ExpiryRule {
  /**
   * 1.x: an etcd lease ends at its deadline, so a token is gone at its expiry. 2.x: pachd compares
   * `NOW() > expiration`, so a token is expired only after it.
   */
  endsAtExpiry: boolean;
  /** 2.x: an expired row stays (answering ErrExpiredToken) until a cleanup deletes it. */
  expiredRowsLinger: boolean;
}

export abstract class AuthEmulationBase {
  protected readonly errors: PachdAuthErrors;
  protected readonly tokens: TokenStore;
  protected active = false;
  /** Set when state was wiped, so the next activation bootstraps a new root. */
  protected wiped = false;
  protected currentRootToken = '';

  protected abstract readonly expiry: ExpiryRule;
  /** The TokenSource of the root token and of tokens the control surface creates. */
  protected abstract readonly sources: { root: TokenSource; control: TokenSource };

  constructor(
    generation: PachdGeneration,
    protected readonly version: PachdVersion,
    protected readonly clock: StandinClock,
    history: TokenHistory,
  ) {
    this.errors = new PachdAuthErrors(generation, version);
    this.tokens = new TokenStore(history);
  }

  get rootToken(): string {
    return this.currentRootToken;
  }

  get activated(): boolean {
    return this.active;
  }

  // ---- what each generation decides ----

  /** The token under `hash` as pachd would find it (1.x drops an expired one on the way). */
  protected abstract presentToken(hash: string): StoredToken | undefined;
  /** Every token pachd still holds, for the control surface's listing. */
  protected abstract heldTokens(): StoredToken[];
  /** Gives `subject` the cluster's admin role on activation, after the previous bindings went. */
  protected abstract bindRoot(subject: string): void;
  /** Deactivate with wipe: every role binding goes. */
  protected abstract wipeBindings(): void;
  /** Throws for a role name the generation does not have. */
  protected abstract checkRoleNames(roles: readonly string[]): void;
  abstract setClusterRoles(principal: string, roles: readonly string[]): void;
  /** Runs before a caller's token is looked up (2.x: the activation check and the cleanup). */
  protected beforeAuthenticating(): void {}
  /** The TokenView fields only one generation has. */
  protected viewExtras(_token: StoredToken): Partial<TokenView> {
    return {};
  }

  // ---- rules both generations follow ----

  protected requireActive(): void {
    if (!this.active) throw this.errors.notActivated();
  }

  /** One `authn-token`, a token pachd holds under its hash, and (2.x) not past its expiry. */
  protected authenticatedCaller(call: PachdCall): StoredToken {
    this.beforeAuthenticating();
    const caller = callerTokenFrom(call.metadata);
    if (caller.kind === 'missing') throw this.errors.notSignedIn();
    if (caller.kind === 'several') throw this.errors.severalTokens();
    const token = this.presentToken(hashPachToken(caller.token));
    if (token === undefined) throw this.errors.badToken();
    if (this.expiry.expiredRowsLinger && this.isExpired(token, this.clock.nowMs())) throw this.errors.expiredToken();
    return token;
  }

  protected isExpired(token: StoredToken, nowMs: number): boolean {
    if (token.expiresAtMs === null) return false;
    return this.expiry.endsAtExpiry ? token.expiresAtMs <= nowMs : nowMs > token.expiresAtMs;
  }

  /** Whole seconds left (truncated, as etcd's TimeToLive), -1 for a token that never expires. */
  protected remainingSeconds(token: StoredToken, nowMs = this.clock.nowMs()): number {
    if (token.expiresAtMs === null) return -1;
    return Math.max(0, Math.floor((token.expiresAtMs - nowMs) / 1000));
  }

  /**
   * RestoreAuthToken's lifetime: Go's int64(time.Until(t).Seconds()) truncates toward zero, so
   * under a second left (or up to a second past) becomes 0, which stores a token that never
   * expires. Further past, pachd refuses.
   */
  protected restoredTtlSeconds(expiration: TimestampMessage | null | undefined): number {
    if (expiration === null || expiration === undefined) return 0;
    const ttl = Math.trunc((msFromTimestamp(expiration) - this.clock.nowMs()) / 1000);
    if (ttl < 0) throw this.errors.expiredToken();
    return ttl;
  }

  /** Activate's effect: the root's cluster binding and its token, auth on. */
  protected bootstrap(subject: string, token: string, origin: TokenOrigin): void {
    this.tokens.clear();
    this.bindRoot(subject);
    this.tokens.insert({ hash: hashPachToken(token), subject, expiresAtMs: null, source: this.sources.root }, origin);
    this.currentRootToken = token;
    this.active = true;
    this.wiped = false;
  }

  // ---- control surface (PachdAuthEmulation) ----

  listTokens(): TokenView[] {
    const held = this.heldTokens();
    const now = this.clock.nowMs();
    return held.map((token) => ({
      hash: token.hash,
      subject: token.subject,
      expiresAt: token.expiresAtMs === null ? null : new Date(token.expiresAtMs).toISOString(),
      expiresAtMs: token.expiresAtMs,
      ttlSeconds: this.remainingSeconds(token, now),
      expired: this.isExpired(token, now),
      ...this.viewExtras(token),
    }));
  }

  createToken(spec: CreateTokenSpec): CreatedToken {
    if (spec.roles !== undefined) this.checkRoleNames(spec.roles);
    const token = spec.token ?? newPachToken();
    const hash = hashPachToken(token);
    const ttl = spec.ttlSeconds ?? 0;
    const expiresAtMs = ttl > 0 ? this.clock.nowMs() + ttl * 1000 : null;
    const inserted =
      this.presentToken(hash) === undefined &&
      this.tokens.insert({ hash, subject: spec.subject, expiresAtMs, source: this.sources.control }, 'control');
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
    return this.presentToken(hash) !== undefined && this.tokens.delete(hash);
  }

  deactivate(wipe: boolean): void {
    this.active = false;
    if (wipe) {
      this.tokens.clear();
      this.wipeBindings();
      this.wiped = true;
    }
  }

  activate(): string {
    if (this.wiped) this.bootstrap(ROOT_USER, newPachToken(), 'bootstrap');
    this.active = true;
    return this.currentRootToken;
  }

  purgeExpired(): number {
    return this.tokens.deleteExpired(this.clock.nowMs(), this.expiry.endsAtExpiry);
  }
}
