/**
 * @file
 * What a static robot leaves behind at pachd after a rotation or an update: tokens replaced by a
 * rotation, revoked once their grace ends, bindings an update took away, and bindings an update
 * gave that pachd may not hold yet. All are recorded in the role before they are due, so the
 * rollback tick finishes them whatever crashed; what fails stays recorded and is tried again at
 * the next tick. A timer in this process revokes a token when its grace ends, not up to a minute
 * later at the next tick; the timer and the tick both run as the static-role lock's tasks on the
 * role as stored, so the second finds the token gone from the role and does nothing.
 */

import type { Request } from '../../sdk/logical';
import type { Engine } from '../mount/engine';
import { mayRotateHere } from '../mount/rotation-gate';
import { pastPachdExpiry, revokeAtHome } from '../mount/token-revocation';
import { tokenFingerprint } from '../pachd/token-material';
import { PachdRelease } from '../pachd/release';
import { loadStaticRole, saveStaticRole, type RetiringToken, type StoredStaticRole } from '../roles/static-role';
import { droppedBindings, grantStaticBindings, removeStaticBindings } from './static-bindings';

/**
 * Revokes the role's tokens whose grace has ended, grants bindings an update left ungranted and
 * removes stale ones; returns the role as stored.
 */
export async function retireDueTokens(
  engine: Engine,
  request: Pick<Request, 'storage' | 'deadline'>,
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
  let next = role;
  if (changed) {
    const { stale_bindings: _stale, grant_pending: _pending, ...rest } = role;
    next = {
      ...rest,
      retiring: kept,
      ...(stale.length > 0 ? { stale_bindings: stale } : {}),
      ...(pending ? { grant_pending: true } : {}),
    };
    await saveStaticRole(request.storage, name, next);
  }
  armRetirement(engine, name, next, now);
  return next;
}

/**
 * Arms the role's grace timer for its next token still in its grace. A token whose grace has
 * ended already waits for the tick (its revocation failed just now): a timer would only retry it
 * at once, and again.
 */
function armRetirement(engine: Engine, name: string, role: StoredStaticRole, now: Date): void {
  const upcoming = (role.retiring ?? [])
    .map((token) => Date.parse(token.revoke_at))
    .filter((at) => at > now.getTime())
    .sort((a, b) => a - b)[0];
  if (upcoming === undefined) {
    engine.retirements.disarm(name);
    return;
  }
  engine.retirements.arm(name, upcoming, () => retireOnTimer(engine, name));
}

/** A grace timer's work: the role as stored now, on a node that may still change it. */
async function retireOnTimer(engine: Engine, name: string): Promise<void> {
  await engine.staticRoles.run(async () => {
    if (!(await mayRotateHere(engine))) return;
    const role = await loadStaticRole(engine.storage, name);
    // A role being deleted is finished by its delete's journal, as at the tick.
    if (role === undefined || role.deleting === true) return;
    await retireDueTokens(engine, { storage: engine.storage, deadline: undefined }, name, role);
  });
}
