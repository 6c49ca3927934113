import { createHash, randomUUID } from 'node:crypto';

import type { TokenHistory, TokenOrigin } from './token-history';

/** 1.x TokenInfo.TokenSource numbers; 2.x rows carry no source. */
export enum TokenSource {
  INVALID = 0,
  AUTHENTICATE = 1,
  GET_TOKEN = 2,
}

export interface StoredToken {
  readonly hash: string;
  readonly subject: string;
  /** Absolute expiry on the stand-in clock; null never expires. */
  expiresAtMs: number | null;
  readonly source: TokenSource;
}

/** pachd's token format: a UUIDv4 without dashes, i.e. 32 lowercase hex characters. */
export function newPachToken(): string {
  return randomUUID().replace(/-/g, '');
}

/** pachd's HashToken: lowercase hex SHA-256 of the token's bytes. Only this is ever stored. */
export function hashPachToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Tokens by hash, with a subject index so revoke-all-for-user and root rotation do not scan.
 * Knows nothing about expiry rules; the generation-specific services apply those. Every insert
 * is recorded in the history, which is why insert wants to know what the token came from.
 */
/** Where insertSweeping first sweeps expired tokens. */
const MIN_SWEEP_SIZE = 4096;

export class TokenStore {
  private readonly byHash = new Map<string, StoredToken>();
  /** Table size that triggers insertSweeping's next sweep. */
  private sweepAtSize = MIN_SWEEP_SIZE;
  private readonly hashesBySubject = new Map<string, Set<string>>();

  constructor(private readonly history: TokenHistory) {}

  get size(): number {
    return this.byHash.size;
  }

  get(hash: string): StoredToken | undefined {
    return this.byHash.get(hash);
  }

  has(hash: string): boolean {
    return this.byHash.has(hash);
  }

  /**
   * insert, for a store whose expired tokens are otherwise dropped only when touched (1.x's etcd
   * leases): a long benchmark minting short tokens would grow it forever. Sweeping whenever it
   * doubles keeps inserts O(1) amortized.
   */
  insertSweeping(token: StoredToken, origin: TokenOrigin, nowMs: number): boolean {
    const inserted = this.insert(token, origin);
    if (this.byHash.size >= this.sweepAtSize) {
      this.deleteExpired(nowMs, true);
      this.sweepAtSize = Math.max(MIN_SWEEP_SIZE, this.byHash.size * 2);
    }
    return inserted;
  }

  /** Returns false, changing nothing (the history included), when the hash is already present. */
  insert(token: StoredToken, origin: TokenOrigin): boolean {
    if (this.byHash.has(token.hash)) return false;
    this.byHash.set(token.hash, token);
    this.history.record(token.hash, token.subject, origin);
    let hashes = this.hashesBySubject.get(token.subject);
    if (hashes === undefined) {
      hashes = new Set();
      this.hashesBySubject.set(token.subject, hashes);
    }
    hashes.add(token.hash);
    return true;
  }

  delete(hash: string): boolean {
    const token = this.byHash.get(hash);
    if (token === undefined) return false;
    this.byHash.delete(hash);
    const hashes = this.hashesBySubject.get(token.subject);
    if (hashes !== undefined) {
      hashes.delete(hash);
      if (hashes.size === 0) this.hashesBySubject.delete(token.subject);
    }
    return true;
  }

  deleteSubject(subject: string): number {
    const hashes = this.hashesBySubject.get(subject);
    if (hashes === undefined) return 0;
    const count = hashes.size;
    for (const hash of [...hashes]) this.delete(hash);
    return count;
  }

  /** Deletes every token whose expiry is before `cutoffMs` (or at it, when `inclusive`). */
  deleteExpired(cutoffMs: number, inclusive: boolean): number {
    let deleted = 0;
    for (const token of [...this.byHash.values()]) {
      const expiry = token.expiresAtMs;
      if (expiry !== null && (expiry < cutoffMs || (inclusive && expiry === cutoffMs))) {
        this.delete(token.hash);
        deleted += 1;
      }
    }
    return deleted;
  }

  clear(): void {
    this.byHash.clear();
    this.hashesBySubject.clear();
  }

  all(): StoredToken[] {
    return [...this.byHash.values()];
  }
}
