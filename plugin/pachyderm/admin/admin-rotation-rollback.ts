/**
 * @file
 * The rollback of an admin token rotation (admin-rotation.ts) the process did not live to
 * complete: its journal entry says how far it got, pachd says which of its two tokens still
 * work, and the configuration says which one the engine holds.
 */

import type { Request } from '../../sdk/logical';
import type { WalEntry } from '../../sdk/wal';
import type { ConfigWriter, EngineConfig } from '../mount/config';
import type { Engine } from '../mount/engine';
import { ADMIN_ROTATION_WAL, retireOldToken, rotatedConfig, type AdminRotationWal } from './admin-rotation';
import type { PachdAuthApi } from '../pachd/auth-api';
import { tokenIsGone } from '../pachd/errors';
import { tokenFingerprint } from '../pachd/token-material';
import { authApiAtHome, isConfiguredHome } from '../mount/token-home';
import { walKind, type WalKind } from '../mount/wal-rollback';

/** Whether a token authenticates at pachd; throws when pachd cannot tell (unreachable). */
async function works(authApi: PachdAuthApi, token: string): Promise<boolean> {
  try {
    await authApi.identify(token);
    return true;
  } catch (error) {
    if (tokenIsGone(error)) return false;
    throw error;
  }
}

/** The rollback of an admin token rotation the process did not live to finish. */
export const adminRotationRollback: WalKind = walKind(ADMIN_ROTATION_WAL, finishInterruptedRotation);

/**
 * Finishes or undoes a rotation the process did not live to complete, as a writer of the
 * configuration. Whatever the journal says, the token the configuration holds is never revoked,
 * and no admin token the configuration does not hold is left working.
 */
async function finishInterruptedRotation(
  engine: Engine,
  request: Request,
  entry: WalEntry<AdminRotationWal>,
): Promise<void> {
  const journal = entry.data;
  await engine.configs.update(request, async (config, writer) => {
    const authApi = await authApiAtHome(engine, request.storage, config, journal, request.deadline);
    const log = { subject: journal.subject, wal_id: entry.id };
    if (journal.new_token === undefined) {
      engine.logger.warn(
        'an admin token rotation was interrupted before pachd answered; if pachd generated a token, nobody holds it ' +
          'and it lives until its pachd expiry',
        log,
      );
      return;
    }
    const configured = config?.admin_token;
    if (configured === journal.new_token) {
      const outcome = await retireOldToken(authApi, journal);
      engine.logger.warn(
        `finished an interrupted admin token rotation: the old token is ${outcome === 'absent' ? 'gone' : 'revoked'}`,
        log,
      );
      return;
    }
    const newWorks = await works(authApi, journal.new_token);
    // The new token may go into the configuration only where it was minted: a writer who moved the
    // configuration (to another pachd, or another CA) while keeping the old token's value must not
    // receive it.
    if (config !== undefined && configured === journal.old_token && isConfiguredHome(engine, config, journal)) {
      // The configuration never let the old token go: keep it if it still works, else switch.
      await rollForwardOrBack(engine, authApi, journal, journal.new_token, config, writer, newWorks);
      return;
    }
    // The configuration holds neither token of this rotation any more (deleted, rewritten, or
    // moved): the new token is nobody's, and the old one was on its way out.
    if (newWorks && journal.subject === 'pach:root') {
      // It may be the cluster's only root token: never revoked, whoever holds it now.
      engine.logger.error(
        'an interrupted rotation of pach:root minted a root token that no configuration holds; it is not revoked, ' +
          "as it may be pachd's only root token: rotate pach:root at pachd to take it out of use",
        { ...log, fingerprint: tokenFingerprint(journal.new_token) },
      );
    } else if (newWorks) {
      await authApi.revokeAsItself(journal.new_token);
      engine.logger.warn(
        'revoked the new admin token of an interrupted rotation: the configuration no longer holds it',
        log,
      );
    }
    if (journal.stage === 'revoking-old') {
      await authApi.revokeAsItself(journal.old_token);
    }
  });
}

async function rollForwardOrBack(
  engine: Engine,
  authApi: PachdAuthApi,
  journal: AdminRotationWal,
  newToken: string,
  config: EngineConfig,
  writer: ConfigWriter,
  newWorks: boolean,
): Promise<void> {
  const log = { subject: journal.subject };
  if (!newWorks) {
    engine.logger.warn(
      'an admin token rotation was interrupted before pachd installed the new token; nothing to undo',
      log,
    );
    return;
  }
  if (await works(authApi, journal.old_token)) {
    await authApi.revoke(journal.old_token, newToken);
    engine.logger.warn('undid an interrupted admin token rotation: revoked its new token, the old one stays', log);
    return;
  }
  // pachd already retired the old token (RotateRootToken does so at once): keep the new one.
  const identity = await authApi.identify(newToken);
  await writer.save(
    rotatedConfig(
      config,
      { token: newToken, subject: identity.subject, expiresAt: identity.expiresAt },
      identity.expiresAt,
      journal.generation,
    ),
  );
  engine.logger.warn('completed an interrupted admin token rotation: stored the new token', log);
}
