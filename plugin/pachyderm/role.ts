import { getJson, putJson, type Storage } from '../sdk/storage';
import { DEFAULT_ROBOT_NAME_TEMPLATE } from './robot-name-template';
import type { RoleBinding } from './role-bindings';

/** A role as stored under `roles/<name>`. */
export interface Role {
  version: number;
  /** A fixed subject, or "" when the subject comes from the template. */
  subject: string;
  subject_template: string;
  ttl_seconds: number;
  max_ttl_seconds: number;
  /**
   * Set for a dynamic robot role: the bindings each read's new robot is given, repos written
   * project/repo whatever pachd's generation (the issuance puts them in pachd's terms).
   */
  role_bindings?: RoleBinding[];
  /** How a dynamic robot is named; "" for the default. */
  robot_name_template?: string;
}

/** Whether reads of this role create a robot of their own. */
export function isDynamicRobotRole(role: Role): role is Role & { role_bindings: RoleBinding[] } {
  return role.role_bindings !== undefined && role.role_bindings.length > 0;
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

/** The template that names this role's dynamic robots. */
export function robotNameTemplateOf(role: Role): string {
  return role.robot_name_template === undefined || role.robot_name_template === ''
    ? DEFAULT_ROBOT_NAME_TEMPLATE
    : role.robot_name_template;
}
