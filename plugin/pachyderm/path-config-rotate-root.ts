/**
 * @file
 * `vault write -f pachyderm/config/rotate-root`: a fresh admin token for the same pachd subject.
 */

import { definePath, type Path } from '../sdk/path';
import { rotateAdminToken } from './admin/operator-rotation';
import type { Engine } from './mount/engine';
import { requireRotatableHere } from './mount/rotation-gate';

export function rotateRootPath(engine: Engine): Path {
  return definePath({
    pattern: 'config/rotate-root',
    helpSynopsis: 'Replace the admin token with a new one for the same pachd subject and revoke the old one.',
    helpDescription: `
The new token never expires when the old one did not; otherwise it lives for ttl (default 30
days). Where the admin token may restore tokens (2.x clusterAdmin, 1.x 1.11.9 and later) the
engine picks the new value and journals it before pachd sees it; on 2.x the root user (pach:root)
is rotated with RotateRootToken, which pachd refuses when its root token comes from its
environment. Rotations never overlap each other or a config write; an interrupted one is
finished or undone at the next rollback tick, or first thing by the next rotate-root, from what
pachd says of its two tokens. While its minting call may still reach pachd, rotate-root answers
503 with the time to try again. The engine rotates the same way on its own on config's
rotation_period or rotation_schedule and before an expiring token runs out; a rotate-root counts
as a rotation there, and clears the failures that stopped automated rotation.`,
    fields: {
      ttl: {
        type: 'duration',
        description: 'Lifetime of the new admin token when the current one expires; 0 keeps the default.',
      },
    },
    operations: {
      update: {
        summary: 'Rotate the admin token.',
        handler: async (request, fields) => {
          await requireRotatableHere(engine);
          return rotateAdminToken(engine, request, fields.optionalDuration('ttl'));
        },
      },
    },
  });
}
