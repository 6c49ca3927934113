/**
 * @file
 * The automated rotation of the admin token, run from the rollback tick Vault sends every mount
 * each minute (community Vault and OpenBao have no rotation manager to do it). It rotates on the
 * operator's schedule and before an expiring token runs out, as one of the configuration's
 * writers with the same journal as rotate-root (admin-rotation.ts), so no crash, concurrent
 * writer or failover leaves more than one admin token alive. When it fails it tries again with
 * exponential backoff, and after repeated failures waits for the next scheduled time or an
 * operator's rotate-root (mount/rotation-schedule.ts). Each tick first settles rotations a crash
 * interrupted (admin-rotation-rollback.ts), so the mount recovers at the next tick, and starts
 * none while an earlier one's minting call may still land.
 */

import { ErrorType, VaultError } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import type { EngineConfig } from '../mount/config';
import type { Engine } from '../mount/engine';
import { mayRotateHere } from '../mount/rotation-gate';
import { tokenFingerprint } from '../pachd/token-material';
import { rotateAdminTokenAsWriter } from './admin-rotation';
import { settleInterruptedRotations } from './admin-rotation-rollback';
import { decideRotation, rotationFailed, type RotationReason } from '../mount/rotation-schedule';

/** The life of an expiring admin token, as far as the configuration knows it. */
function expiryOf(config: EngineConfig): { issuedAt: Date; expiresAt: Date } | undefined {
  const expiresAt = config.observed?.admin_expires_at ?? null;
  if (expiresAt === null || config.observed === undefined) return undefined;
  const issuedAt = config.admin_token_minted?.minted_at ?? config.observed.verified_at;
  return { issuedAt: new Date(issuedAt), expiresAt: new Date(expiresAt) };
}

/**
 * When the admin token stops working with nothing left to replace it (automated rotation off, or
 * given up until after it expires); undefined while it never expires or will be rotated in time.
 */
export function adminTokenStopsWorkingAt(config: EngineConfig): string | undefined {
  const expiresAt = config.observed?.admin_expires_at ?? null;
  if (expiresAt === null) return undefined;
  if (config.disable_automated_rotation === true) return expiresAt;
  const givenUpUntil = config.rotation?.given_up_until;
  if (givenUpUntil === undefined) return undefined;
  if (givenUpUntil === null || Date.parse(givenUpUntil) >= Date.parse(expiresAt)) return expiresAt;
  return undefined;
}

export function stopsWorkingWarning(stopsAt: string): string {
  return (
    `the admin token expires at ${stopsAt} and the engine will not rotate it before then: the mount stops ` +
    'working at that time. Rotate it with <mount>/config/rotate-root or write a new admin_token'
  );
}

/** Rotates the admin token when the schedule or its expiry says so; called on every rollback tick. */
export async function runScheduledRotation(
  engine: Engine,
  request: Request,
  now: () => Date = () => new Date(),
): Promise<void> {
  if (!(await mayRotateHere(engine))) return;
  const failure = await engine.configs.update(
    request,
    async (stored, writer): Promise<{ reason: RotationReason; error: unknown } | undefined> => {
      let settled;
      try {
        settled = await settleInterruptedRotations(engine, request, stored, writer, () => now().getTime());
      } catch (error) {
        // Left for the next tick; a rotation would need the same pachd anyway.
        engine.logger.warn('could not settle an interrupted rotation of the admin token; the next tick tries again', {
          error: (error as Error).message,
        });
        return undefined;
      }
      const config = settled.config;
      if (config === undefined) return undefined;
      const at = now();
      const stopsAt = adminTokenStopsWorkingAt(config);
      if (stopsAt !== undefined) {
        engine.logger.warn(stopsWorkingWarning(stopsAt), {
          admin_token_fingerprint: tokenFingerprint(config.admin_token),
          last_rotation_error: config.rotation?.last_error,
        });
      }
      const decision = decideRotation(config, config.rotation ?? {}, expiryOf(config), at);
      if (decision.due && settled.waitUntil !== undefined) {
        // Not a failure: the rotation runs at the first tick after pachd can say how the last one ended.
        engine.logger.info(
          'an automated rotation of the admin token waits: an interrupted one may still land at pachd',
          { reason: decision.reason, until: new Date(settled.waitUntil).toISOString() },
        );
        return undefined;
      }
      if (!decision.due) {
        if (decision.missedWindow === true) {
          engine.logger.warn(
            'a scheduled rotation of the admin token missed its rotation_window; waiting for the next',
            {
              next_rotation: decision.state?.next_rotation,
            },
          );
        }
        if (decision.state !== undefined) await writer.save({ ...config, rotation: decision.state });
        return undefined;
      }
      try {
        const response = await rotateAdminTokenAsWriter(engine, request, config, writer, undefined);
        engine.logger.info('automated rotation of the admin token done', {
          reason: decision.reason,
          admin_token_fingerprint: response.data?.admin_token_fingerprint,
          warnings: response.warnings?.join('; '),
        });
        return undefined;
      } catch (error) {
        return { reason: decision.reason, error };
      }
    },
  );
  if (failure === undefined) return;
  // Recorded in a turn of its own, on the configuration as stored now: a rotation that failed
  // late may already have stored its new token.
  const message = failure.error instanceof Error ? failure.error.message : String(failure.error);
  // A 400 (a subject that cannot re-issue itself, say) is not cured by trying again.
  const permanent = failure.error instanceof VaultError && failure.error.type === ErrorType.InvalidRequest;
  await engine.configs.update(request, async (config, writer) => {
    if (config === undefined) return;
    const rotation = rotationFailed(config, config.rotation ?? {}, failure.reason, message, permanent, now());
    const next = { ...config, rotation };
    await writer.save(next);
    engine.logger.warn('automated rotation of the admin token failed', {
      reason: failure.reason,
      error: message,
      failures: rotation.failures,
      ...(rotation.retry_at === undefined
        ? { given_up_until: rotation.given_up_until ?? 'an operator rotates it (config/rotate-root)' }
        : { retry_at: rotation.retry_at }),
    });
    const stopsAt = adminTokenStopsWorkingAt(next);
    if (stopsAt !== undefined) engine.logger.warn(stopsWorkingWarning(stopsAt), { last_rotation_error: message });
  });
}
