import { nanosToSeconds } from '../sdk/duration';
import { listResponse } from '../sdk/framework';
import { definePath, type OperationFunc, type Path } from '../sdk/path';
import type { Engine } from './mount/engine';
import { requireRotatableHere } from './mount/rotation-gate';
import { MIN_ROTATION_PERIOD_SECONDS, MIN_ROTATION_WINDOW_SECONDS } from './mount/rotation-schedule';
import { MAX_ROLE_NAME_LENGTH, ROLE_NAME_PATTERN } from './roles/role';
import { formatRoleBindings, parseRoleBindings } from './roles/role-bindings';
import { listStaticRoles, loadStaticRole, type StoredStaticRole } from './roles/static-role';
import { MAX_SUBJECT_LENGTH } from './roles/subjects';
import { deleteStaticRobot } from './static-robots/static-delete';
import { STATIC_TOKEN_MARGIN_SECONDS } from './static-robots/static-lifetime';
import { writeStaticRole } from './static-robots/static-role-write';

type StaticRoleField =
  'name' | 'subject' | 'role_bindings' | 'rotation_period' | 'rotation_schedule' | 'rotation_window' | 'rotation_grace';

/**
 * Static robots, as Vault's database engine's static roles: a pachd robot other systems know by
 * name, whose token the engine holds and rotates, so that nobody holds one for long.
 */
export function staticRolePaths(engine: Engine): Path[] {
  // Create and update do the same: an absent field keeps its stored value, or its default.
  const writeRole: OperationFunc<StaticRoleField> = async (request, fields) => {
    const name = fields.string('name');
    await requireRotatableHere(engine);
    const warnings = await engine.staticRoles.run(() =>
      writeStaticRole(engine, request, name, {
        subject: fields.optionalString('subject'),
        bindings: fields.has('role_bindings') ? parseRoleBindings(fields.stringList('role_bindings')) : undefined,
        rotationPeriodSeconds: seconds(fields.optionalDuration('rotation_period')),
        rotationSchedule: fields.optionalString('rotation_schedule')?.trim(),
        rotationWindowSeconds: seconds(fields.optionalDuration('rotation_window')),
        rotationGraceSeconds: seconds(fields.optionalDuration('rotation_grace')),
      }),
    );
    return warnings.length > 0 ? { warnings } : undefined;
  };

  return [
    definePath({
      pattern: 'static-roles/?',
      helpSynopsis: 'List static roles.',
      operations: {
        list: async (request) => listResponse(await listStaticRoles(request.storage)),
      },
    }),
    definePath({
      pattern: `static-roles/(?<name>${ROLE_NAME_PATTERN})`,
      helpSynopsis: 'Manage a static robot: a fixed pachd robot whose token the engine rotates.',
      helpDescription: `
A static role holds one pachd robot (subject robot:<name>) and its token. Writing the role grants
the robot its role_bindings and makes its first token; static-creds/<name> reads the token, and
the engine replaces it every rotation_period, or at each rotation_schedule time (5-field cron,
UTC), as the admin token's scheduled rotation does (a failure is retried after 1 minute, doubling
to 1 hour, 5 times). rotate-role/<name> rotates at once.

A replaced token keeps working for rotation_grace (default 0), so that a consumer that read just
before the rotation can finish; then it is revoked (by a timer, or after a restart by the next
rollback tick, each minute). Each
token expires at pachd ${STATIC_TOKEN_MARGIN_SECONDS / 60} minutes after its replacement's scheduled time plus
the grace, so a stopped Vault leaves nothing long-lived behind. Changing the schedule or the grace rotates at
once. Deleting the role revokes its tokens and removes the bindings it granted.

The subject cannot be the admin token's, another static role's, a fixed role's subject, or a name
a dynamic robot role's robot_name_template could make; it cannot change once written. Bindings
are written as for dynamic robot roles, and the same roles are refused.`,
      fields: {
        name: { type: 'string', description: 'Name of the static role.', maxLength: MAX_ROLE_NAME_LENGTH, in: 'path' },
        subject: {
          type: 'string',
          description: 'The pachd robot, robot:<name>; fixed once written.',
          maxLength: MAX_SUBJECT_LENGTH,
        },
        role_bindings: {
          type: 'comma-string-list',
          description:
            'Bindings granted to the robot while the role exists, e.g. repo:default/images=repoReader,' +
            'project:default=projectViewer; written as for dynamic robot roles.',
        },
        rotation_period: {
          type: 'duration',
          description:
            `Rotate the token this often (at least ${MIN_ROTATION_PERIOD_SECONDS}s). ` + 'Not with rotation_schedule.',
        },
        rotation_schedule: {
          type: 'string',
          description:
            'Rotate the token at these times: a 5-field cron expression (minute hour day-of-month month ' +
            'day-of-week), read in UTC. Not with rotation_period.',
          maxLength: 256,
        },
        rotation_window: {
          type: 'duration',
          description:
            'How long after a rotation_schedule time a rotation may still start ' +
            `(at least ${MIN_ROTATION_WINDOW_SECONDS}s); ` +
            'past it, the rotation waits for the next time. 0: no limit. Only with rotation_schedule.',
        },
        rotation_grace: {
          type: 'duration',
          description:
            'How long a replaced token keeps working after a rotation; shorter than the time between rotations. ' +
            'Default 0: revoked at once.',
        },
      },
      existenceCheck: async (request, fields) =>
        (await loadStaticRole(request.storage, fields.string('name'))) !== undefined,
      operations: {
        read: {
          summary: 'Read a static role (without its token).',
          handler: async (request, fields) => {
            const role = await loadStaticRole(request.storage, fields.string('name'));
            return role === undefined ? undefined : { data: describeStaticRole(role) };
          },
        },
        create: {
          summary: 'Create a static role: grant its bindings and make its first token.',
          handler: writeRole,
        },
        update: {
          summary: "Change a static role's bindings or schedule.",
          handler: writeRole,
        },
        delete: {
          summary: 'Delete a static role: revoke its tokens and remove the bindings it granted.',
          handler: async (request, fields) => {
            const name = fields.string('name');
            await requireRotatableHere(engine);
            await engine.staticRoles.run(() => deleteStaticRobot(engine, request, name));
            return undefined;
          },
        },
      },
    }),
  ];
}

function seconds(value: bigint | undefined): number | undefined {
  return value === undefined ? undefined : nanosToSeconds(value);
}

function describeStaticRole(role: StoredStaticRole): Record<string, unknown> {
  const state = role.rotation ?? {};
  return {
    subject: role.subject,
    role_bindings: formatRoleBindings(role.role_bindings),
    rotation_period: role.rotation_period_seconds ?? 0,
    rotation_schedule: role.rotation_schedule ?? '',
    rotation_window: role.rotation_window_seconds ?? 0,
    rotation_grace: role.rotation_grace_seconds,
    last_rotation: state.last_rotation ?? null,
    next_rotation: state.retry_at ?? state.next_rotation ?? null,
    last_rotation_error: state.last_error ?? null,
    rotation_failures: state.failures ?? 0,
    token_expires_at: role.current?.expires_at ?? null,
    pachd_address: role.current?.pachd_address ?? null,
    retiring_tokens: (role.retiring ?? []).length,
    deleting: role.deleting === true,
  };
}
