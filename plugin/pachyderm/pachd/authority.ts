import type { PachdConnection } from './connection';

/**
 * What the engine needs from pachd's auth service, whatever its generation: who a token
 * belongs to, whether the admin token may mint, minting, extending (1.x only) and revoking.
 * `auth-v1.ts` and `auth-v2.ts` implement it on the two APIs.
 */
export type PachdGeneration = 1 | 2;

export interface TokenIdentity {
  subject: string;
  /** null when the token never expires. */
  expiresAt: Date | null;
}

export interface AdminIdentity extends TokenIdentity {
  /** What this token may mint; empty means it cannot serve as the engine's admin token. */
  canMint: { users: boolean; robots: boolean };
  /** Why it cannot, in pachd's terms, when it cannot. */
  shortfall: string | undefined;
}

export interface MintRequest {
  adminToken: string;
  subject: string;
  /** Lifetime at pachd, whole seconds, at least 1. */
  lifetimeSeconds: number;
  /** The token to install, for generations that take one from the caller (see `prepareToken`). */
  preparedToken: string | undefined;
}

export interface MintedToken {
  token: string;
  subject: string;
  expiresAt: Date | null;
}

export interface PachdAuthority {
  readonly generation: PachdGeneration;
  readonly connection: PachdConnection;

  identify(token: string): Promise<TokenIdentity>;
  verifyAdmin(adminToken: string): Promise<AdminIdentity>;
  /**
   * The token value to mint for `subject` when the caller chooses it (2.x users: installed
   * with RestoreAuthToken), so it can be journaled before pachd knows it; undefined when pachd
   * generates the value.
   */
  prepareToken(subject: string): string | undefined;
  mint(request: MintRequest): Promise<MintedToken>;
  /**
   * Sets a token's remaining lifetime (1.x). Resolves false when pachd keeps a longer lifetime
   * (pachd cannot shorten a token).
   */
  extend(adminToken: string, token: string, lifetimeSeconds: number): Promise<boolean>;
  /** Revokes a token; a token pachd no longer knows counts as revoked. */
  revoke(adminToken: string, token: string): Promise<void>;
  /** Revokes a token using its own authority (any pachd user may revoke their own token). */
  revokeAsItself(token: string): Promise<void>;
  /**
   * A fresh admin token for the same subject as `adminToken`. When the new value is chosen
   * here rather than by pachd, `journal` receives it before pachd does.
   */
  rotateAdmin(
    adminToken: string,
    identity: TokenIdentity,
    lifetimeSeconds: number | null,
    journal: (preparedToken: string) => Promise<void>,
  ): Promise<MintedToken>;
}

/** The longest lifetime 1.x pachd gives or extends a token to: 30 days. */
export const PACHD_V1_MAX_TTL_SECONDS = 2_592_000;
