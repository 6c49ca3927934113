/**
 * @file
 * An operator's rotate-root: first the interrupted rotations pachd can now answer for are settled
 * (admin-rotation-rollback.ts), then the admin token is rotated (admin-rotation.ts), all as one
 * writer of the configuration. While an earlier rotation's minting call may still land, the
 * answer is a 503 saying until when: a second rotation beside it could leave two admin tokens.
 */

import type { Nanoseconds } from '../../sdk/duration';
import type { Request, Response } from '../../sdk/logical';
import { notConfigured } from '../mount/config';
import type { Engine } from '../mount/engine';
import { vaultErrorFromPachd } from '../mount/upstream-errors';
import { rotateAdminTokenAsWriter } from './admin-rotation';
import { rotationPendingError, settleInterruptedRotations } from './admin-rotation-rollback';

export async function rotateAdminToken(
  engine: Engine,
  request: Request,
  requestedTtl: Nanoseconds | undefined,
): Promise<Response> {
  return engine.configs.update(request, async (stored, writer) => {
    if (stored === undefined) throw notConfigured();
    const settled = await settleInterruptedRotations(engine, request, stored, writer).catch((error: unknown) => {
      throw vaultErrorFromPachd(error, 'cannot settle an interrupted rotation of the admin token');
    });
    if (settled.waitUntil !== undefined) throw rotationPendingError(settled.waitUntil);
    if (settled.config === undefined) throw notConfigured();
    return rotateAdminTokenAsWriter(engine, request, settled.config, writer, requestedTtl);
  });
}
