/**
 * @file
 * What becomes of the admin token when a configuration write replaces it or a delete drops it.
 * A token an operator wrote is theirs: it stays valid at pachd, and the answer says so. A token
 * the engine minted (rotate-root) is known to nobody else: it is revoked, journaled first so that
 * a crash between the change and the revocation is finished by the rollback tick. The one
 * exception is a root token (pach:root) the engine minted: Vault then holds the cluster's only
 * root token, so it is never revoked, and dropped only when the operator says so explicitly.
 */

import { badRequest } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import type { Storage } from '../../sdk/storage';
import { deleteWal, getWal, listWal, putWal, type WalEntry } from '../../sdk/wal';
import { ADMIN_ROTATION_WAL, type AdminRotationWal } from './admin-rotation';
import type { EngineConfig } from '../mount/config';
import type { Engine } from '../mount/engine';
import type { TokenHome } from '../mount/pachd-clients';
import { tokenFingerprint } from '../pachd/token-material';
import { authApiAtHome, configuredHome } from '../mount/token-home';
import { walKind, type WalKind } from '../mount/wal-rollback';

export const RETIRED_ADMIN_WAL = 'retired-admin-token';

/** A minted admin token the configuration let go of, to be revoked at its home. */
export interface RetiredAdminWal extends TokenHome {
  subject: string;
  token: string;
}

/** The field that lets a write or a delete drop a root token the engine minted. */
export const DISCARD_ROOT_TOKEN_FIELD = 'discard_root_token';

/** After the change is stored: revokes what must go, and says what happened to the old token. */
export type AdminTokenRelease = () => Promise<string[]>;

/**
 * Prepares letting go of `dropped`'s admin token, before the change is stored: refuses to drop a
 * minted root token without `discardRoot`, and journals a minted token that is to be revoked.
 */
export async function prepareAdminTokenRelease(
  engine: Engine,
  request: Pick<Request, 'storage' | 'deadline'>,
  dropped: EngineConfig,
  discardRoot: boolean,
): Promise<AdminTokenRelease> {
  if (!discardRoot) await refuseWhileRootRotationPending(request.storage);
  const fingerprint = tokenFingerprint(dropped.admin_token);
  const minted = dropped.admin_token_minted;
  if (minted === undefined) {
    const subject = dropped.observed?.admin_subject;
    return async () => [
      `the previous admin token (fingerprint ${fingerprint}${subject === undefined ? '' : `, ${subject}`}) was ` +
        'written by an operator and is left valid at pachd: revoke it there if nothing else uses it',
    ];
  }
  if (minted.subject === 'pach:root') {
    if (!discardRoot) {
      throw badRequest(
        `the configuration holds a pach:root token that config/rotate-root minted (fingerprint ${fingerprint}): ` +
          "it is the cluster's only root token, and no one but this engine has it. Replacing or deleting the " +
          'configuration would lose it for good, and with it root access to pachd (recovering it means ' +
          `restarting pachd with a root token in its own configuration). To drop it anyway, repeat the request with ` +
          `${DISCARD_ROOT_TOKEN_FIELD}=true; it is not revoked`,
      );
    }
    return async () => {
      engine.logger.warn("discarded the root token this engine had minted, at the operator's request", {
        fingerprint,
      });
      return [
        `discarded the pach:root token config/rotate-root had minted (fingerprint ${fingerprint}), as asked: it is ` +
          'still valid at pachd, and no one holds it any more',
      ];
    };
  }
  const home = await configuredHome(engine, request.storage, dropped, {
    pachd_address: dropped.pachd_address,
    generation: minted.generation,
  });
  const entry = await putWal<RetiredAdminWal>(request.storage, RETIRED_ADMIN_WAL, {
    ...home,
    subject: minted.subject,
    token: dropped.admin_token,
  });
  return async () => {
    try {
      const outcome = await revokeRetired(engine, request.storage, undefined, entry.data, request.deadline);
      await deleteWal(request.storage, entry.id).catch(() => undefined);
      engine.logger.info('revoked the admin token this engine had minted, which the configuration let go of', {
        admin_subject: minted.subject,
        fingerprint,
        outcome,
      });
      return [
        `revoked the previous admin token (fingerprint ${fingerprint}, ${minted.subject}), which ` +
          'config/rotate-root had minted and no one else holds',
      ];
    } catch (error) {
      engine.logger.warn('could not revoke the admin token the configuration let go of; the rollback tick retries', {
        admin_subject: minted.subject,
        fingerprint,
        error: (error as Error).message,
      });
      return [
        `the previous admin token (fingerprint ${fingerprint}, ${minted.subject}) was minted by this engine and is ` +
          `to be revoked, but pachd could not be asked (${(error as Error).message}); the rollback tick retries`,
      ];
    }
  };
}

/**
 * An interrupted rotation of pach:root may have left the cluster's only root token in its journal
 * alone, for the rollback to store in this configuration: a change that let go of the
 * configuration's token now would leave it to no one.
 */
async function refuseWhileRootRotationPending(storage: Storage): Promise<void> {
  for (const id of await listWal(storage)) {
    const entry = await getWal(storage, id).catch(() => undefined);
    if (entry?.kind !== ADMIN_ROTATION_WAL) continue;
    const rotation = entry.data as Partial<AdminRotationWal>;
    if (rotation.subject !== 'pach:root' || rotation.new_token === undefined) continue;
    throw badRequest(
      'a rotation of pach:root was interrupted and its new root token is still journaled: the next rollback ' +
        'tick settles it (within a minute, or once its minting call can no longer land), storing the token in ' +
        'this configuration if pachd installed it. Until ' +
        `then, replacing or deleting the configuration's admin token would leave that root token to no one; ` +
        `repeat the request with ${DISCARD_ROOT_TOKEN_FIELD}=true to do it anyway`,
    );
  }
}

/** The rollback of a retirement the process did not live to finish. */
export const adminRetirementRollback: WalKind = walKind(RETIRED_ADMIN_WAL, finishInterruptedRetirement);

async function finishInterruptedRetirement(
  engine: Engine,
  request: Request,
  entry: WalEntry<RetiredAdminWal>,
): Promise<void> {
  await engine.configs.update(request, async (config) => {
    const log = {
      admin_subject: entry.data.subject,
      fingerprint: tokenFingerprint(entry.data.token),
      wal_id: entry.id,
    };
    if (config?.admin_token === entry.data.token) {
      // The change that was to let it go never landed: the configuration still uses it.
      engine.logger.info('a configuration change that was to retire the admin token never landed; kept it', log);
      return;
    }
    const outcome = await revokeRetired(engine, request.storage, config, entry.data, request.deadline);
    engine.logger.warn('revoked an admin token this engine had minted, whose retirement was interrupted', {
      ...log,
      outcome,
    });
  });
}

/**
 * The token revokes itself: pachd 2.x lets any valid token revoke any token, 1.x lets a token
 * revoke its own, and no other admin token need go to the retired token's pachd.
 */
async function revokeRetired(
  engine: Engine,
  storage: Storage,
  config: EngineConfig | undefined,
  retired: RetiredAdminWal,
  deadline: number | undefined,
): Promise<string> {
  const authApi = await authApiAtHome(engine, storage, config, retired, deadline);
  return authApi.revokeAsItself(retired.token);
}
