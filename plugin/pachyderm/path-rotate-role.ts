import { badRequest } from '../sdk/errors';
import { definePath, type Path } from '../sdk/path';
import type { Engine } from './mount/engine';
import { requireRotatableHere } from './mount/rotation-gate';
import { MAX_ROLE_NAME_LENGTH, ROLE_NAME_PATTERN } from './roles/role';
import { loadStaticRole } from './roles/static-role';
import { rotateStaticRole } from './static-robots/static-rotation';

/** `vault write -f pachyderm/rotate-role/loader`: a static robot's token replaced now. */
export function rotateRolePath(engine: Engine): Path {
  return definePath({
    pattern: `rotate-role/(?<name>${ROLE_NAME_PATTERN})`,
    helpSynopsis: "Replace a static robot's token now.",
    helpDescription: `
Makes a new token for the static role's robot and stores it as current; the one it replaces is
revoked after the role's rotation_grace (at once without one). The schedule restarts from now, and
failures that had stopped automated rotation are cleared.`,
    fields: {
      name: { type: 'string', description: 'Name of the static role.', maxLength: MAX_ROLE_NAME_LENGTH, in: 'path' },
    },
    operations: {
      update: {
        summary: "Rotate a static robot's token.",
        handler: async (request, fields) => {
          const name = fields.string('name');
          await requireRotatableHere(engine);
          return engine.staticRoles.run(async () => {
            const role = await loadStaticRole(request.storage, name);
            if (role === undefined) throw badRequest(`unknown static role ${JSON.stringify(name)}`);
            if (role.deleting === true) throw badRequest(`the static role ${name} is being deleted`);
            const rotated = await rotateStaticRole(engine, request, name, role);
            return {
              data: {
                subject: rotated.subject,
                last_rotation: rotated.rotation?.last_rotation ?? null,
                next_rotation: rotated.rotation?.next_rotation ?? null,
                token_expires_at: rotated.current?.expires_at ?? null,
              },
            };
          });
        },
      },
    },
  });
}
