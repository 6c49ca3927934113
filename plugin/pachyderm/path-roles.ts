import { nanosToSeconds } from '../sdk/duration';
import { badRequest } from '../sdk/errors';
import type { FieldData } from '../sdk/fields';
import { listResponse } from '../sdk/framework';
import { definePath, type Path } from '../sdk/path';
import type { Request, Response } from '../sdk/logical';
import type { Engine } from './mount/engine';
import type { RoleStore } from './roles/role-store';
import { checkDynamicRobotRole } from './roles/dynamic-robot-checks';
import { PachdRelease } from './pachd/release';
import {
  MAX_ROLE_NAME_LENGTH,
  robotNameTemplateOf,
  ROLE_NAME_PATTERN,
  ROLE_PREFIX,
  type Role,
  type RoleKind,
  type RoleTtls,
} from './roles/role';
import { DEFAULT_ROBOT_NAME_TEMPLATE, MAX_TEMPLATE_LENGTH, RobotNameTemplate } from './roles/robot-name-template';
import { formatRoleBindings, parseRoleBindings, type RoleBinding } from './roles/role-bindings';
import { SubjectTemplate } from './roles/subject-template';
import { staticRoleWhere } from './roles/static-role';
import { checkSubject, checkSubjectForm, MAX_SUBJECT_LENGTH } from './roles/subjects';

/**
 * Roles name who a token is for, so callers need permission on creds/<role> rather than the
 * power to name any subject: a fixed `subject` (robot:ci), a `subject_template` filled from the
 * caller's Vault identity, so that one role serves everyone as themselves, or `role_bindings`,
 * for a robot of its own per read that holds exactly those bindings while its lease lives.
 */
export function rolePaths(engine: Engine, roles: RoleStore): Path[] {
  return [
    definePath({
      pattern: 'roles/?',
      helpSynopsis: 'List roles.',
      operations: {
        list: async (request) => listResponse(await request.storage.list(ROLE_PREFIX)),
      },
    }),
    definePath({
      pattern: `roles/(?<name>${ROLE_NAME_PATTERN})`,
      helpSynopsis: 'Manage a role: whom its tokens are for and how long they live.',
      helpDescription: `
Give one of subject, subject_template or role_bindings.

role_bindings makes each read of creds/<role> create a robot of its own (named by
robot_name_template), grant it these bindings, and hand out its token; when the lease ends the
robot's tokens are revoked and every binding is removed. Bindings are written as pachctl names
them: repo:default/images=repoReader, repo:images=repoReader (project default),
project:default=projectViewer, cluster=<role>. They are checked against pachd when written: the
roles, the resources, and the admin token's right to grant them.

subject is a fixed pachd subject such as robot:ci or user:alice@example.com; subject_template is
filled from the identity of whoever reads creds/<role>, for example
user:{{identity.entity.aliases.auth_oidc_1a2b3c.name}} (the OIDC login's email) or
user:{{identity.entity.metadata.email}}. Placeholders: identity.entity.id, identity.entity.name,
identity.entity.metadata.KEY, identity.entity.aliases.MOUNT_ACCESSOR.name and
identity.entity.aliases.MOUNT_ACCESSOR.metadata.KEY. The template must begin with a literal prefix.`,
      fields: {
        name: { type: 'string', description: 'Name of the role.', maxLength: MAX_ROLE_NAME_LENGTH, in: 'path' },
        subject: {
          type: 'string',
          description: 'Fixed pachd subject of every token of this role.',
          maxLength: MAX_SUBJECT_LENGTH,
        },
        subject_template: {
          type: 'string',
          description: "Subject built from the caller's identity, e.g. user:{{identity.entity.metadata.email}}.",
          maxLength: MAX_SUBJECT_LENGTH,
        },
        role_bindings: {
          type: 'comma-string-list',
          description:
            'Bindings a new robot gets per read, e.g. repo:default/images=repoReader,project:default=projectViewer.',
        },
        robot_name_template: {
          type: 'string',
          description:
            "Name of each dynamic robot, in Vault's username_template syntax; " +
            `default ${DEFAULT_ROBOT_NAME_TEMPLATE}.`,
          maxLength: MAX_TEMPLATE_LENGTH,
        },
        ttl: { type: 'duration', description: 'Lease TTL of tokens from this role; 0 uses the configured default.' },
        max_ttl: { type: 'duration', description: 'Max TTL of tokens from this role; 0 uses the configured default.' },
      },
      existenceCheck: async (request, fields) =>
        (await roles.load(request.storage, fields.string('name'))) !== undefined,
      operations: {
        read: {
          summary: 'Read a role.',
          handler: async (request, fields) => {
            const role = await roles.load(request.storage, fields.string('name'));
            return role === undefined ? undefined : { data: describeRole(role) };
          },
        },
        // With the static-role lock: the check that no static robot is this role's subject, and the
        // store, must not interleave with a static role's own check against the roles.
        create: {
          summary: 'Create a role.',
          handler: (request, fields) => engine.staticRoles.run(() => writeRole(engine, roles, request, fields)),
        },
        update: {
          summary: 'Change a role.',
          handler: (request, fields) => engine.staticRoles.run(() => writeRole(engine, roles, request, fields)),
        },
        delete: {
          summary: 'Delete a role (tokens already issued keep their leases).',
          handler: async (request, fields) => {
            await roles.delete(request.storage, fields.string('name'));
            return undefined;
          },
        },
      },
    }),
  ];
}

function describeRole(role: Role): Record<string, unknown> {
  return {
    subject: role.kind === 'subject' ? role.subject : '',
    subject_template: role.kind === 'template' ? role.template : '',
    role_bindings: role.kind === 'robot' ? formatRoleBindings(role.bindings) : [],
    robot_name_template: role.kind === 'robot' ? robotNameTemplateOf(role) : '',
    ttl: role.ttlSeconds,
    max_ttl: role.maxTtlSeconds,
  };
}

/** The fields a role write reads; the path declares them, so its handlers may hand them on. */
type RoleField = 'name' | 'subject' | 'subject_template' | 'role_bindings' | 'robot_name_template' | 'ttl' | 'max_ttl';

async function writeRole(
  engine: Engine,
  roles: RoleStore,
  request: Request,
  fields: FieldData<RoleField>,
): Promise<Response | undefined> {
  const name = fields.string('name');
  const existing = await roles.load(request.storage, name);
  const ttls: RoleTtls = {
    ttlSeconds: fields.has('ttl') ? nanosToSeconds(fields.duration('ttl')) : (existing?.ttlSeconds ?? 0),
    maxTtlSeconds: fields.has('max_ttl') ? nanosToSeconds(fields.duration('max_ttl')) : (existing?.maxTtlSeconds ?? 0),
  };
  const subject = fields.optionalString('subject')?.trim();
  const template = fields.optionalString('subject_template')?.trim();
  const bindings = fields.has('role_bindings') ? parseRoleBindings(fields.stringList('role_bindings')) : undefined;
  const given =
    [subject, template].filter((value) => value !== undefined && value !== '').length + (bindings?.length ? 1 : 0);
  if (given > 1) throw badRequest('give one of subject, subject_template and role_bindings');
  const kind = kindAfter(existing, subject, template, bindings);
  if (kind === undefined) {
    throw badRequest(
      'a role needs a subject (e.g. robot:ci), a subject_template (e.g. user:{{identity.entity.name}}) or ' +
        'role_bindings (e.g. repo:default/images=repoReader)',
    );
  }
  if (fields.has('robot_name_template')) {
    const nameTemplate = fields.string('robot_name_template').trim();
    if (kind.kind === 'robot') kind.nameTemplate = nameTemplate;
    else if (nameTemplate !== '') throw badRequest('robot_name_template names dynamic robots: give role_bindings too');
  }

  await checkNotStatic(request, kind);
  switch (kind.kind) {
    case 'robot':
      await checkDynamicRobotRole(
        engine,
        request,
        name,
        kind.bindings,
        RobotNameTemplate.parse(robotNameTemplateOf(kind)),
      );
      break;
    case 'subject': {
      kind.subject = checkSubjectForm(kind.subject);
      const observation = (await engine.configs.load(request.storage))?.observed;
      if (observation !== undefined)
        checkSubject(kind.subject, observation.generation, PachdRelease.parse(observation.pachd_version));
      break;
    }
    case 'template':
      SubjectTemplate.parse(kind.template);
      break;
  }
  const role: Role = { ...kind, ...ttls };
  if (role.maxTtlSeconds > 0 && role.ttlSeconds > role.maxTtlSeconds) {
    throw badRequest(`ttl ${role.ttlSeconds}s is above max_ttl ${role.maxTtlSeconds}s`);
  }
  await roles.save(request.storage, name, role);
  return undefined;
}

/**
 * A static robot is the only holder of its subject: a role whose tokens would be for it (a fixed
 * subject) or whose robots could be named as it (ending such a lease revokes every token of the
 * robot) is refused.
 */
async function checkNotStatic(request: Request, kind: RoleKind): Promise<void> {
  let holder: string | undefined;
  if (kind.kind === 'subject') {
    const subject = kind.subject.trim();
    holder = await staticRoleWhere(request.storage, (held) => held === subject);
  } else if (kind.kind === 'robot') {
    const template = RobotNameTemplate.parse(robotNameTemplateOf(kind));
    holder = await staticRoleWhere(request.storage, (held) => template.mayName(held.slice('robot:'.length)));
  }
  if (holder !== undefined) {
    throw badRequest(
      `this role would hand out tokens of a robot the static role ${holder} holds; a static robot's token is the ` +
        'only one of its subject',
    );
  }
}

/**
 * A role is one kind at a time: a subject source given replaces the role's kind, one given empty
 * takes away the role's own (and leaves none unless another is given). A robot role keeps its
 * name template while its bindings change.
 */
function kindAfter(
  existing: Role | undefined,
  subject: string | undefined,
  template: string | undefined,
  bindings: RoleBinding[] | undefined,
): RoleKind | undefined {
  let kind: RoleKind | undefined = existing === undefined ? undefined : kindOf(existing);
  if (subject !== undefined) {
    if (subject !== '') kind = { kind: 'subject', subject };
    else if (kind?.kind === 'subject') kind = undefined;
  }
  if (template !== undefined) {
    if (template !== '') kind = { kind: 'template', template };
    else if (kind?.kind === 'template') kind = undefined;
  }
  if (bindings !== undefined) {
    if (bindings.length > 0) {
      kind = { kind: 'robot', bindings, nameTemplate: kind?.kind === 'robot' ? kind.nameTemplate : undefined };
    } else if (kind?.kind === 'robot') kind = undefined;
  }
  return kind;
}

function kindOf(role: Role): RoleKind {
  switch (role.kind) {
    case 'subject':
      return { kind: 'subject', subject: role.subject };
    case 'template':
      return { kind: 'template', template: role.template };
    case 'robot':
      return { kind: 'robot', bindings: role.bindings, nameTemplate: role.nameTemplate };
  }
}
