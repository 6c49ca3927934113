import { getJson, putJson, type Storage } from '../../sdk/storage';
import { DEFAULT_ROBOT_NAME_TEMPLATE } from './robot-name-template';
import type { RoleBinding } from './role-bindings';

/**
 * A role: whom its tokens are for, one kind at a time, and how long they live.
 *
 * - `subject`: a fixed pachd subject (robot:ci).
 * - `template`: a subject built from the caller's Vault identity.
 * - `robot`: a robot of its own per read, holding these bindings while its lease lives.
 */
export type Role = RoleKind & RoleTtls;

export type RoleKind =
  | { kind: 'subject'; subject: string }
  | { kind: 'template'; template: string }
  | {
      kind: 'robot';
      /** Repos written project/repo whatever pachd's generation (the issuance puts them in pachd's terms). */
      bindings: RoleBinding[];
      /** How its robots are named, as written; undefined when never written (robotNameTemplateOf). */
      nameTemplate: string | undefined;
    };

export interface RoleTtls {
  /** 0: the configured default. */
  ttlSeconds: number;
  maxTtlSeconds: number;
}

/**
 * A role as stored under `roles/<name>`, the shape every version of this engine wrote: the kinds
 * it is not hold "" (subject, subject_template) or are absent (role_bindings, robot_name_template).
 */
export interface StoredRole {
  version: number;
  subject: string;
  subject_template: string;
  ttl_seconds: number;
  max_ttl_seconds: number;
  role_bindings?: RoleBinding[];
  robot_name_template?: string;
}

export const ROLE_PREFIX = 'roles/';
/** Vault's usual role-name shape: word characters, dots and dashes, not at the ends. */
export const ROLE_NAME_PATTERN = '\\w(?:[\\w.-]*\\w)?';
/** Role names become storage keys, which some storage backends bound. */
export const MAX_ROLE_NAME_LENGTH = 128;

export async function loadRole(storage: Storage, name: string): Promise<Role | undefined> {
  const stored = await getJson<StoredRole>(storage, ROLE_PREFIX + name);
  return stored === undefined ? undefined : roleFromStored(stored);
}

export function saveRole(storage: Storage, name: string, role: Role): Promise<void> {
  return putJson(storage, ROLE_PREFIX + name, storedRole(role));
}

/** A stored role's kind: bindings make a robot role, then a subject a fixed one, else the template. */
export function roleFromStored(stored: StoredRole): Role {
  const ttls = { ttlSeconds: stored.ttl_seconds, maxTtlSeconds: stored.max_ttl_seconds };
  if (stored.role_bindings !== undefined && stored.role_bindings.length > 0) {
    return { kind: 'robot', bindings: stored.role_bindings, nameTemplate: stored.robot_name_template, ...ttls };
  }
  if (stored.subject !== '') return { kind: 'subject', subject: stored.subject, ...ttls };
  return { kind: 'template', template: stored.subject_template, ...ttls };
}

/** The stored shape of a role, key for key as this engine has always written it. */
export function storedRole(role: Role): StoredRole {
  const stored: StoredRole = {
    version: 1,
    subject: role.kind === 'subject' ? role.subject : '',
    subject_template: role.kind === 'template' ? role.template : '',
    ttl_seconds: role.ttlSeconds,
    max_ttl_seconds: role.maxTtlSeconds,
  };
  if (role.kind === 'robot') {
    stored.role_bindings = role.bindings;
    if (role.nameTemplate !== undefined) stored.robot_name_template = role.nameTemplate;
  }
  return stored;
}

/** The template that names a robot role's robots: the one written, or the default when none (or "") was. */
export function robotNameTemplateOf(role: RoleKind & { kind: 'robot' }): string {
  return role.nameTemplate === undefined || role.nameTemplate === '' ? DEFAULT_ROBOT_NAME_TEMPLATE : role.nameTemplate;
}
