/**
 * @file
 * What a static robot leaves behind at pachd after a rotation or an update: tokens replaced by a
 * rotation, revoked once their grace ends, bindings an update took away, and bindings an update
 * gave that pachd may not hold yet. All are recorded in the role before they are due, so the
 * rollback tick finishes them whatever crashed; what fails stays recorded and is tried again at
 * the next tick.
 */

import type { Request } from '../../sdk/logical';
import type { Engine } from '../mount/engine';
import { pastPachdExpiry, revokeAtHome } from '../mount/token-revocation';
import { tokenFingerprint } from '../pachd/token-material';
import { PachdRelease } from '../pachd/release';
import { saveStaticRole, type RetiringToken, type StoredStaticRole } from '../roles/static-role';
import { droppedBindings, grantStaticBindings, removeStaticBindings } from './static-bindings';

/**
 * Revokes the role's tokens whose grace has ended, grants bindings an update left ungranted and
 * removes stale ones; returns the role as stored.
 */
export async function retireDueTokens(
  engine: Engine,
  request: Request,
  name: string,
  role: StoredStaticRole,
  now: Date = new Date(),
): Promise<StoredStaticRole> {
  const config = await engine.configs.load(request.storage);
  const kept: RetiringToken[] = [];
  for (const token of role.retiring ?? []) {
    if (Date.parse(token.revoke_at) > now.getTime()) {
      kept.push(token);
      continue;
    }
    if (pastPachdExpiry(token.expires_at)) continue;
    try {
      const outcome = await revokeAtHome(engine, request.storage, config, token, token.token, request.deadline);
      engine.logger.info("revoked a static robot's replaced token", {
        role: name,
        subject: role.subject,
        fingerprint: tokenFingerprint(token.token),
        outcome,
      });
    } catch (error) {
      kept.push(token);
      engine.logger.warn("could not revoke a static robot's replaced token; the next tick tries again", {
        role: name,
        subject: role.subject,
        fingerprint: tokenFingerprint(token.token),
        error: (error as Error).message,
      });
    }
  }
  let pending = role.grant_pending === true;
  let stale = role.stale_bindings ?? [];
  if ((pending || stale.length > 0) && config !== undefined) {
    try {
      const authApi = await engine.pachd.configuredAuthApi(config, request.deadline);
      const observation = config.observed?.pachd_version;
      const release = observation === undefined ? undefined : PachdRelease.parse(observation);
      if (pending) {
        await grantStaticBindings(authApi, config, release, role.subject, role.role_bindings);
        pending = false;
      }
      // A resource the role binds again is kept, whatever an older update left on the list.
      await removeStaticBindings(authApi, config, release, role.subject, droppedBindings(stale, role.role_bindings));
      stale = [];
    } catch (error) {
      engine.logger.warn("could not bring a static robot's bindings in line with its role; the next tick tries again", {
        role: name,
        subject: role.subject,
        error: (error as Error).message,
      });
    }
  }
  const changed =
    kept.length !== (role.retiring ?? []).length ||
    stale.length !== (role.stale_bindings ?? []).length ||
    pending !== (role.grant_pending === true);
  if (!changed) return role;
  const { stale_bindings: _stale, grant_pending: _pending, ...rest } = role;
  const next: StoredStaticRole = {
    ...rest,
    retiring: kept,
    ...(stale.length > 0 ? { stale_bindings: stale } : {}),
    ...(pending ? { grant_pending: true } : {}),
  };
  await saveStaticRole(request.storage, name, next);
  return next;
}

/** When the role's next retirement is due (ISO), if it has a token waiting. */
export function nextRetirement(role: StoredStaticRole): string | undefined {
  const times = (role.retiring ?? []).map((token) => token.revoke_at).sort();
  return times[0];
}
