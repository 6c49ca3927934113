import { badRequest } from '../sdk/errors';
import type { Request } from '../sdk/logical';
import { definePath, type Path } from '../sdk/path';
import { secondsToNanos } from '../sdk/duration';
import type { Engine } from './mount/engine';
import type { RoleStore } from './roles/role-store';
import { MAX_ROLE_NAME_LENGTH, robotNameTemplateOf, ROLE_NAME_PATTERN, type Role } from './roles/role';
import { RobotNameTemplate } from './roles/robot-name-template';
import { SubjectTemplate } from './roles/subject-template';
import { issueToken } from './issuance/issue-token';

/** A fresh pachd token for a role's subject, behind a lease: `vault read pachyderm/creds/ci`. */
export function credsPath(engine: Engine, roles: RoleStore): Path {
  return definePath({
    pattern: `creds/(?<name>${ROLE_NAME_PATTERN})`,
    helpSynopsis: "Issue a pachd token for a role's subject.",
    helpDescription: `
Reading creds/<role> issues a new token for the role's subject (or, for a role with a
subject_template, for the caller's own identity) behind a Vault lease. Renew the lease to keep
the token; revoke it, or let it expire, and the token is revoked at pachd.

For a role with role_bindings, each read creates a robot of its own, grants it the role's
bindings and issues its token; the answer names the robot and its bindings. When the lease
ends, the robot's tokens are revoked and its bindings removed.`,
    fields: {
      name: { type: 'string', description: 'Name of the role.', maxLength: MAX_ROLE_NAME_LENGTH, in: 'path' },
      ttl: { type: 'duration', description: "Lease TTL, at most the role's max_ttl; defaults to the role's ttl." },
    },
    operations: {
      read: {
        summary: "Issue a token for the role's subject.",
        handler: async (request, fields) => {
          const name = fields.string('name');
          const role = await roles.load(request.storage, name);
          if (role === undefined) throw badRequest(`unknown role ${JSON.stringify(name)}`);
          return issueToken(engine, request, {
            subject: await subjectOf(engine, request, name, role),
            source: 'creds',
            role: name,
            requestedTtl: fields.optionalDuration('ttl'),
            roleTtl: role.ttlSeconds > 0 ? secondsToNanos(role.ttlSeconds) : undefined,
            roleMaxTtl: role.maxTtlSeconds > 0 ? secondsToNanos(role.maxTtlSeconds) : undefined,
            bindings: role.kind === 'robot' ? role.bindings : undefined,
          });
        },
      },
    },
  });
}

/** Whom this read's token is for. */
async function subjectOf(engine: Engine, request: Request, name: string, role: Role): Promise<string> {
  switch (role.kind) {
    case 'subject':
      return role.subject;
    case 'template': {
      const entity = request.entityId === '' ? undefined : await engine.system.entityInfo(request.entityId);
      return SubjectTemplate.parse(role.template).render(entity);
    }
    case 'robot': {
      const robot = RobotNameTemplate.parse(robotNameTemplateOf(role)).render({
        roleName: name,
        displayName: request.displayName,
      });
      return `robot:${robot}`;
    }
  }
}
