import type { Request } from '../sdk/logical';
import type { WalEntry } from '../sdk/wal';
import type { Engine } from './engine';
import type { PachdGeneration } from './pachd/authority';
import { tokenFingerprint } from './pachd/token';
import { rollBackAdminRotation, ADMIN_ROTATION_WAL, type AdminRotationWal } from './path-config-rotate-root';
import { authorityFor, revokeAtPachd } from './secret-token';

/**
 * What the rollback tick does with WAL entries that outlived their request (older than
 * `WAL_ROLLBACK_MIN_AGE_MS`, longer than any request may take).
 */
export const PENDING_TOKEN_WAL = 'pachd-token';
export const WAL_ROLLBACK_MIN_AGE_MS = 3 * 60 * 1000;

/** An issuance in progress: the token's value once known (before the mint when we choose it). */
export interface PendingTokenWal {
  subject: string;
  generation: PachdGeneration;
  pachd_address: string;
  /** When pachd expires the token, if it was minted. */
  expires_at: string;
  token?: string;
}

export function walRollback(engine: Engine): (request: Request, entry: WalEntry) => Promise<void> {
  return async (request, entry) => {
    switch (entry.kind) {
      case PENDING_TOKEN_WAL:
        return revokePending(engine, request, entry.data as unknown as PendingTokenWal);
      case ADMIN_ROTATION_WAL:
        return rollBackAdminRotation(engine, request, entry.data as unknown as AdminRotationWal);
      default:
        engine.logger.warn('dropping WAL entry of unknown kind', { kind: entry.kind, id: entry.id });
    }
  };
}

async function revokePending(engine: Engine, request: Request, pending: PendingTokenWal): Promise<void> {
  if (Date.parse(pending.expires_at) < Date.now()) return;
  if (pending.token === undefined) {
    engine.logger.warn(
      'an issuance was interrupted before pachd answered; if pachd minted a token, it expires on its own',
      { subject: pending.subject, expires_at: pending.expires_at },
    );
    return;
  }
  const config = await engine.configs.load(request.storage);
  await revokeAtPachd(authorityFor(engine, config, pending), config, pending.token);
  engine.logger.warn('revoked a token whose issuance was interrupted', {
    subject: pending.subject,
    fingerprint: tokenFingerprint(pending.token),
  });
}
