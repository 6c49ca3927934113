import { getJson, putJson, type Storage } from '../sdk/storage';

/** A role as stored under `roles/<name>`. */
export interface Role {
  version: number;
  /** A fixed subject, or "" when the subject comes from the template. */
  subject: string;
  subject_template: string;
  ttl_seconds: number;
  max_ttl_seconds: number;
}

export const ROLE_PREFIX = 'roles/';
/** Vault's usual role-name shape: word characters, dots and dashes, not at the ends. */
export const ROLE_NAME_PATTERN = '\\w(?:[\\w.-]*\\w)?';
/** Role names become storage keys, which some storage backends bound. */
export const MAX_ROLE_NAME_LENGTH = 128;

export function loadRole(storage: Storage, name: string): Promise<Role | undefined> {
  return getJson<Role>(storage, ROLE_PREFIX + name);
}

export function saveRole(storage: Storage, name: string, role: Role): Promise<void> {
  return putJson(storage, ROLE_PREFIX + name, role);
}
