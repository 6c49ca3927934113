import { nanosToSeconds } from '../sdk/duration';
import { badRequest } from '../sdk/errors';
import type { FieldData } from '../sdk/fields';
import { listResponse } from '../sdk/framework';
import type { PathDefinition } from '../sdk/path';
import type { Request, Response } from '../sdk/logical';
import type { Engine } from './engine';
import { loadRole, MAX_ROLE_NAME_LENGTH, ROLE_NAME_PATTERN, ROLE_PREFIX, saveRole, type Role } from './role';
import { SubjectTemplate } from './subject-template';
import { PachdRelease } from './pachd/release';
import { checkSubject, checkSubjectForm, MAX_SUBJECT_LENGTH } from './subjects';

/**
 * Roles name who a token is for, so callers need permission on creds/<role> rather than the
 * power to name any subject: a fixed `subject` (robot:ci) or a `subject_template` filled from
 * the caller's Vault identity, so that one role serves everyone as themselves.
 */
export function rolePaths(engine: Engine): PathDefinition[] {
  return [
    {
      pattern: 'roles/?',
      helpSynopsis: 'List roles.',
      operations: {
        list: async (request) => listResponse(await request.storage.list(ROLE_PREFIX)),
      },
    },
    {
      pattern: `roles/(?<name>${ROLE_NAME_PATTERN})`,
      helpSynopsis: 'Manage a role: whom its tokens are for and how long they live.',
      helpDescription: `
Give either subject (a fixed pachd subject such as robot:ci or user:alice@example.com) or
subject_template, filled from the identity of whoever reads creds/<role>, for example
user:{{identity.entity.aliases.auth_oidc_1a2b3c.name}} (the OIDC login's email) or
user:{{identity.entity.metadata.email}}. Placeholders: identity.entity.id, identity.entity.name,
identity.entity.metadata.KEY, identity.entity.aliases.MOUNT_ACCESSOR.name and
identity.entity.aliases.MOUNT_ACCESSOR.metadata.KEY. The template must begin with a literal prefix.`,
      fields: {
        name: { type: 'string', description: 'Name of the role.', maxLength: MAX_ROLE_NAME_LENGTH },
        subject: { type: 'string', description: 'Fixed pachd subject of every token of this role.', maxLength: MAX_SUBJECT_LENGTH },
        subject_template: {
          type: 'string',
          description: "Subject built from the caller's identity, e.g. user:{{identity.entity.metadata.email}}.",
          maxLength: MAX_SUBJECT_LENGTH,
        },
        ttl: { type: 'duration', description: 'Lease TTL of tokens from this role; 0 uses the configured default.' },
        max_ttl: { type: 'duration', description: 'Max TTL of tokens from this role; 0 uses the configured default.' },
      },
      existenceCheck: async (request, fields) => (await loadRole(request.storage, fields.string('name'))) !== undefined,
      operations: {
        read: {
          summary: 'Read a role.',
          handler: async (request, fields) => {
            const role = await loadRole(request.storage, fields.string('name'));
            return role === undefined ? undefined : { data: describeRole(role) };
          },
        },
        create: { summary: 'Create a role.', handler: (request, fields) => writeRole(engine, request, fields) },
        update: { summary: 'Change a role.', handler: (request, fields) => writeRole(engine, request, fields) },
        delete: {
          summary: 'Delete a role (tokens already issued keep their leases).',
          handler: async (request, fields) => {
            await request.storage.delete(ROLE_PREFIX + fields.string('name'));
            return undefined;
          },
        },
      },
    },
  ];
}

function describeRole(role: Role): Record<string, unknown> {
  return {
    subject: role.subject,
    subject_template: role.subject_template,
    ttl: role.ttl_seconds,
    max_ttl: role.max_ttl_seconds,
  };
}

async function writeRole(engine: Engine, request: Request, fields: FieldData): Promise<Response | undefined> {
  const name = fields.string('name');
  const existing = await loadRole(request.storage, name);
  const role: Role = {
    version: 1,
    subject: existing?.subject ?? '',
    subject_template: existing?.subject_template ?? '',
    ttl_seconds: fields.has('ttl') ? nanosToSeconds(fields.duration('ttl')) : (existing?.ttl_seconds ?? 0),
    max_ttl_seconds: fields.has('max_ttl') ? nanosToSeconds(fields.duration('max_ttl')) : (existing?.max_ttl_seconds ?? 0),
  };
  const subject = fields.optionalString('subject')?.trim();
  const template = fields.optionalString('subject_template')?.trim();
  if (subject && template) throw badRequest('give either subject or subject_template, not both');
  // Setting one replaces the other.
  if (subject !== undefined) {
    role.subject = subject;
    if (subject !== '') role.subject_template = '';
  }
  if (template !== undefined) {
    role.subject_template = template;
    if (template !== '') role.subject = '';
  }
  if (role.subject === '' && role.subject_template === '') {
    throw badRequest('a role needs a subject (e.g. robot:ci) or a subject_template (e.g. user:{{identity.entity.name}})');
  }

  if (role.subject !== '') {
    role.subject = checkSubjectForm(role.subject);
    const observed = (await engine.configs.load(request.storage))?.observed;
    if (observed !== undefined) checkSubject(role.subject, observed.generation, PachdRelease.parse(observed.pachd_version));
  } else {
    SubjectTemplate.parse(role.subject_template);
  }
  if (role.max_ttl_seconds > 0 && role.ttl_seconds > role.max_ttl_seconds) {
    throw badRequest(`ttl ${role.ttl_seconds}s is above max_ttl ${role.max_ttl_seconds}s`);
  }
  await saveRole(request.storage, name, role);
  return undefined;
}
