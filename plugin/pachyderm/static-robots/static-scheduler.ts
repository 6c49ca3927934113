/**
 * @file
 * The rollback tick's work for static robots, on the node that may rotate (mount/rotation-gate.ts):
 * revoke replaced tokens whose grace has ended, remove bindings an update dropped, and rotate each
 * role whose time has come, with the admin token's rules (mount/rotation-schedule.ts): a
 * rotation_window missed waits for the next time, and a failure is retried with backoff, then left
 * for the next scheduled time or an operator's rotate-role.
 */

import { ErrorType, VaultError } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import type { Engine } from '../mount/engine';
import { mayRotateHere } from '../mount/rotation-gate';
import { decideRotation, rotationFailed } from '../mount/rotation-schedule';
import { listStaticRoles, loadStaticRole, saveStaticRole } from '../roles/static-role';
import { retireDueTokens } from './static-retirement';
import { rotateStaticRole } from './static-rotation';

export async function runStaticRotations(
  engine: Engine,
  request: Request,
  now: () => Date = () => new Date(),
): Promise<void> {
  if (!(await mayRotateHere(engine))) return;
  for (const name of await listStaticRoles(request.storage)) {
    if (request.cancelled()) return;
    await engine.staticRoles
      .run(() => tickRole(engine, request, name, now))
      .catch((error: unknown) => {
        engine.logger.warn('the rollback tick could not look after a static role', {
          role: name,
          error: (error as Error).message,
        });
      });
  }
}

async function tickRole(engine: Engine, request: Request, name: string, now: () => Date): Promise<void> {
  let role = await loadStaticRole(request.storage, name);
  // A role being deleted is finished by its delete's journal.
  if (role === undefined || role.deleting === true) return;
  role = await retireDueTokens(engine, request, name, role, now());
  // Without a configuration replaced tokens still go (each revokes itself); nothing can rotate.
  if ((await engine.configs.load(request.storage)) === undefined) return;
  const at = now();
  const state = role.rotation ?? {};
  const decision = decideRotation(role, state, undefined, at);
  if (!decision.due) {
    if (decision.missedWindow === true) {
      engine.logger.warn("a static robot's scheduled rotation missed its rotation_window; waiting for the next", {
        role: name,
        next_rotation: decision.state?.next_rotation,
      });
    }
    if (decision.state !== undefined) {
      await saveStaticRole(request.storage, name, { ...role, rotation: decision.state });
    }
    return;
  }
  try {
    await rotateStaticRole(engine, request, name, role, at);
    // The rotation's own line cannot tell a scheduled or retried rotation from an operator's.
    engine.logger.info("automated rotation of a static robot's token done", {
      role: name,
      subject: role.subject,
      reason: decision.reason,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // A 400 (the admin token lost the right to make robot tokens, say) is not cured by trying again.
    const permanent = error instanceof VaultError && error.type === ErrorType.InvalidRequest;
    const stored = (await loadStaticRole(request.storage, name)) ?? role;
    const rotation = rotationFailed(stored, stored.rotation ?? {}, decision.reason, message, permanent, now());
    await saveStaticRole(request.storage, name, { ...stored, rotation });
    engine.logger.warn("automated rotation of a static robot's token failed", {
      role: name,
      subject: role.subject,
      reason: decision.reason,
      error: message,
      failures: rotation.failures,
      ...(rotation.retry_at === undefined
        ? { given_up_until: rotation.given_up_until ?? 'an operator rotates it (rotate-role)' }
        : { retry_at: rotation.retry_at }),
    });
  }
}
