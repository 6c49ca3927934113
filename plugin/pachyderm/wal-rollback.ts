/**
 * @file
 * What the rollback tick does with WAL entries that outlived their request. An entry is left
 * alone until `WAL_ROLLBACK_MIN_AGE_MS` old: twice as long as any request spends on pachd
 * (MAX_REQUEST_BUDGET_MS), so a call of the interrupted request cannot land at pachd after the
 * rollback has looked for its token. It is Vault's own default.
 */

import type { Request } from '../sdk/logical';
import type { WalEntry } from '../sdk/wal';
import { ADMIN_ROTATION_WAL, type AdminRotationWal } from './admin-rotation';
import { finishInterruptedRotation } from './admin-rotation-rollback';
import { finishInterruptedRetirement, RETIRED_ADMIN_WAL, type RetiredAdminWal } from './admin-token-retirement';
import type { Engine } from './engine';
import type { TokenHome } from './pachd-clients';
import { tokenFingerprint } from './pachd/token-material';
import { removeDynamicRobot } from './robot-bindings';
import { grantsFromStored, type RoleGrant } from './role-bindings';
import { revokeAtHome } from './token-revocation';

export const PENDING_TOKEN_WAL = 'pachd-token';
export const WAL_ROLLBACK_MIN_AGE_MS = 10 * 60 * 1000;

/** An issuance in progress: the token's value once known (before pachd sees it when the engine picks it). */
export interface PendingTokenWal extends TokenHome {
  subject: string;
  /** When pachd expires the token, if it was minted. */
  expires_at: string;
  token?: string;
  /** A dynamic robot's bindings, journaled before any is granted. */
  role_bindings?: RoleGrant[];
}

export function walRollback(engine: Engine): (request: Request, entry: WalEntry) => Promise<void> {
  return async (request, entry) => {
    switch (entry.kind) {
      case PENDING_TOKEN_WAL:
        return revokePending(engine, request, entry as WalEntry<unknown> as WalEntry<PendingTokenWal>);
      case ADMIN_ROTATION_WAL:
        return finishInterruptedRotation(engine, request, entry as WalEntry<unknown> as WalEntry<AdminRotationWal>);
      case RETIRED_ADMIN_WAL:
        return finishInterruptedRetirement(engine, request, entry as WalEntry<unknown> as WalEntry<RetiredAdminWal>);
      default:
        engine.logger.warn('dropping WAL entry of unknown kind', { kind: entry.kind, wal_id: entry.id });
    }
  };
}

/** A token this far past its expiry by this host's clock is gone at pachd whatever pachd's clock says. */
const EXPIRED_MARGIN_MS = 60_000;

async function revokePending(engine: Engine, request: Request, entry: WalEntry<PendingTokenWal>): Promise<void> {
  const pending = entry.data;
  const log = { subject: pending.subject, wal_id: entry.id };
  if (pending.role_bindings !== undefined) return removeInterruptedRobot(engine, request, entry);
  if (Date.parse(pending.expires_at) + EXPIRED_MARGIN_MS < Date.now()) {
    engine.logger.debug("an interrupted issuance is past its token's pachd expiry; nothing to revoke", log);
    return;
  }
  if (pending.token === undefined) {
    engine.logger.warn(
      'an issuance was interrupted before pachd answered, and pachd picks token values here: if it issued one, ' +
        'nobody holds it and it lives until its pachd expiry',
      { ...log, expires_at: pending.expires_at },
    );
    return;
  }
  const config = await engine.configs.load(request.storage);
  const outcome = await revokeAtHome(engine, request.storage, config, pending, pending.token, request.deadline);
  const fingerprint = tokenFingerprint(pending.token);
  switch (outcome) {
    case 'revoked':
      engine.logger.warn('revoked a token whose issuance was interrupted', { ...log, fingerprint });
      break;
    case 'absent':
      engine.logger.info('an interrupted issuance never created its token at pachd; nothing was left to revoke', {
        ...log,
        fingerprint,
      });
      break;
    case 'unknown':
      engine.logger.warn(
        'revoked the token of an interrupted issuance, if pachd had created it (this pachd does not say)',
        {
          ...log,
          fingerprint,
        },
      );
      break;
  }
}

/**
 * A dynamic robot whose creation was interrupted: its bindings may exist whether or not a token
 * was minted, and whether or not the token has expired since, so it is always taken apart.
 */
async function removeInterruptedRobot(
  engine: Engine,
  request: Request,
  entry: WalEntry<PendingTokenWal>,
): Promise<void> {
  const pending = entry.data;
  const grants = grantsFromStored(pending.role_bindings);
  if (grants === undefined) {
    engine.logger.error('dropping the journal of an interrupted dynamic robot whose bindings are unreadable', {
      subject: pending.subject,
      wal_id: entry.id,
    });
    return;
  }
  const config = await engine.configs.load(request.storage);
  const removal = await removeDynamicRobot(
    engine,
    request.storage,
    config,
    { ...pending, grants, token: pending.token },
    request.deadline,
  );
  engine.logger.warn('took apart a dynamic robot whose creation was interrupted', {
    subject: pending.subject,
    wal_id: entry.id,
    tokens_revoked: removal.tokensRevoked,
    bindings_removed: removal.bindingsRemoved,
    resources_gone: removal.resourcesGone,
  });
}
