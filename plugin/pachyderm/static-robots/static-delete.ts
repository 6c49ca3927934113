/**
 * @file
 * Deleting a static role: its tokens are revoked and the bindings it granted removed, then the
 * role is forgotten. The work is journaled and the role marked as being deleted before pachd is
 * asked anything, so a crash or an unreachable pachd leaves the rollback tick to finish it; the
 * name can be used again once the role is gone.
 */

import { codedError } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import { deleteWal, putWal, type WalEntry } from '../../sdk/wal';
import type { Engine } from '../mount/engine';
import { pastPachdExpiry, revokeAtHome } from '../mount/token-revocation';
import { walKind, type WalKind } from '../mount/wal-rollback';
import { PachdRelease } from '../pachd/release';
import { tokenFingerprint } from '../pachd/token-material';
import type { RoleBinding } from '../roles/role-bindings';
import {
  deleteStaticRole,
  loadStaticRole,
  saveStaticRole,
  tokensOf,
  type StaticToken,
  type StoredStaticRole,
} from '../roles/static-role';
import { removeStaticBindings } from './static-bindings';

export const STATIC_DELETE_WAL = 'static-delete';

export interface StaticDeleteWal {
  role: string;
  role_id: string;
  subject: string;
  bindings: RoleBinding[];
  tokens: StaticToken[];
}

/** Deletes the role, revoking its tokens and removing its bindings; the caller holds the static-role lock. */
export async function deleteStaticRobot(engine: Engine, request: Request, name: string): Promise<void> {
  const role = await loadStaticRole(request.storage, name);
  if (role === undefined) return;
  const journal: StaticDeleteWal = {
    role: name,
    role_id: role.id,
    subject: role.subject,
    bindings: [...role.role_bindings, ...(role.stale_bindings ?? [])],
    tokens: tokensOf(role),
  };
  const wal = await putWal(request.storage, STATIC_DELETE_WAL, journal);
  if (role.deleting !== true) await saveStaticRole(request.storage, name, { ...role, deleting: true });
  try {
    await finishDelete(engine, request, journal, role);
  } catch (error) {
    throw codedError(
      502,
      `the static role ${name} is being deleted, but ${(error as Error).message}; the rollback tick finishes the ` +
        'deletion (its token and bindings are removed then), and it serves no token meanwhile',
    );
  }
  await deleteWal(request.storage, wal.id).catch(() => undefined);
}

/** Revokes every token, removes every binding, then forgets the role: each step may be repeated. */
async function finishDelete(
  engine: Engine,
  request: Request,
  journal: StaticDeleteWal,
  role: StoredStaticRole,
): Promise<void> {
  const config = await engine.configs.load(request.storage);
  for (const token of [...journal.tokens, ...tokensOf(role)]) {
    if (pastPachdExpiry(token.expires_at)) continue;
    await revokeAtHome(engine, request.storage, config, token, token.token, request.deadline);
  }
  if (journal.bindings.length > 0) {
    if (config === undefined) throw new Error('the engine is not configured, so it cannot remove the bindings');
    const authApi = await engine.pachd.configuredAuthApi(config, request.deadline);
    const version = config.observed?.pachd_version;
    const release = version === undefined ? undefined : PachdRelease.parse(version);
    await removeStaticBindings(authApi, config, release, journal.subject, journal.bindings);
  }
  await deleteStaticRole(request.storage, journal.role);
  engine.logger.info('static role deleted', {
    role: journal.role,
    subject: journal.subject,
    tokens_revoked: journal.tokens.map((token) => tokenFingerprint(token.token)).join(','),
    bindings_removed: journal.bindings.length,
  });
}

/** The rollback of a delete the process did not live to finish: it is finished, not undone. */
export const staticDeleteRollback: WalKind = walKind(STATIC_DELETE_WAL, (engine, request, entry) =>
  engine.staticRoles.run(async () => {
    const pending = (entry as WalEntry<StaticDeleteWal>).data;
    const role = await loadStaticRole(request.storage, pending.role);
    // Gone, or another role written since under the name: the delete had finished its pachd work.
    if (role === undefined || role.id !== pending.role_id) return;
    await finishDelete(engine, request, pending, role);
    engine.logger.warn('finished the interrupted delete of a static role', { role: pending.role });
  }),
);
