import { createHash, randomBytes } from 'node:crypto';

/** A token in pachd's own format: 32 lowercase hex characters (a UUID without dashes). */
export function generatePachdToken(): string {
  return randomBytes(16).toString('hex');
}

/** What pachd stores instead of a token: the lowercase hex SHA-256 of its bytes. */
export function hashPachdToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Shows which token is meant without revealing it: the first 16 hex characters of pachd's own
 * hash, so an operator can match it against pachd's token table.
 */
export function tokenFingerprint(token: string): string {
  return `sha256:${hashPachdToken(token).slice(0, 16)}`;
}
