/**
 * @file
 * How a dynamic robot is named, in the syntax of Vault's `username_template` (a subset of Go's
 * templates), so that an operator who has written one for the database engine can write this:
 *
 *   vault-{{.RoleName | truncate 24}}-{{unix_time}}-{{random 8}}  →  vault-ci-1764512345-k3j9x0qa
 *
 * Values: .RoleName, .DisplayName (the caller's Vault display name), unix_time, unix_time_millis,
 * random N. Functions after "|": truncate N, lowercase, uppercase. Each name must be unique per
 * read, or two leases would share one robot and revoking one would strip the other: a template
 * must hold {{random N}} with N of at least MIN_RANDOM_LENGTH, untruncated.
 */

import { randomInt } from 'node:crypto';
import { badRequest } from '../../sdk/errors';

export const DEFAULT_ROBOT_NAME_TEMPLATE = 'vault-{{.RoleName | truncate 24}}-{{unix_time}}-{{random 8}}';
export const MIN_RANDOM_LENGTH = 8;
export const MAX_TEMPLATE_LENGTH = 256;

/** Characters a robot name may hold: no colon (pachd refuses it), no space, nothing invisible. */
const NAME_CHARACTERS = /^[A-Za-z0-9_.@-]*$/;
const RANDOM_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const MAX_RANDOM_LENGTH = 64;

type Value =
  | { kind: 'role-name' }
  | { kind: 'display-name' }
  | { kind: 'unix-time' }
  | { kind: 'unix-time-millis' }
  | { kind: 'random'; length: number };

type Transform = { kind: 'truncate'; length: number } | { kind: 'lowercase' } | { kind: 'uppercase' };

type Part = { kind: 'literal'; text: string } | { kind: 'action'; value: Value; transforms: Transform[] };

/** What a name is made from at one read. */
export interface RobotNameInputs {
  roleName: string;
  displayName: string;
}

export class RobotNameTemplate {
  private constructor(
    readonly source: string,
    private readonly parts: readonly Part[],
  ) {}

  static parse(source: string): RobotNameTemplate {
    if (source.length > MAX_TEMPLATE_LENGTH) {
      throw badRequest(
        `robot_name_template has at most ${MAX_TEMPLATE_LENGTH} characters; this one has ${source.length}`,
      );
    }
    const parts: Part[] = [];
    let rest = source;
    while (rest !== '') {
      const open = rest.indexOf('{{');
      const literal = open === -1 ? rest : rest.slice(0, open);
      if (literal !== '') {
        if (!NAME_CHARACTERS.test(literal)) {
          throw badRequest(
            `robot_name_template's text ${JSON.stringify(literal)} may hold only letters, digits, ".", "_", "@" and ` +
              `"-"`,
          );
        }
        parts.push({ kind: 'literal', text: literal });
      }
      if (open === -1) break;
      const close = rest.indexOf('}}', open);
      if (close === -1) throw badRequest(`robot_name_template has an unclosed "{{" in ${JSON.stringify(source)}`);
      parts.push(parseAction(rest.slice(open + 2, close)));
      rest = rest.slice(close + 2);
    }
    const unique = parts.some(
      (part) =>
        part.kind === 'action' &&
        part.value.kind === 'random' &&
        part.value.length >= MIN_RANDOM_LENGTH &&
        !part.transforms.some((transform) => transform.kind === 'truncate'),
    );
    if (!unique) {
      throw badRequest(
        `robot_name_template must hold {{random N}} with N of at least ${MIN_RANDOM_LENGTH}, untruncated, so that ` +
          `every read makes a robot of its own (got ${JSON.stringify(source)})`,
      );
    }
    return new RobotNameTemplate(source, parts);
  }

  /**
   * Whether some read could get this robot name (without `robot:`): each value may render as any
   * run of the characters a name holds, so this errs towards yes.
   */
  mayName(name: string): boolean {
    const pattern = this.parts
      .map((part) => (part.kind === 'literal' ? part.text.replace(/[.]/g, '\\.') : '[A-Za-z0-9_.@-]*'))
      .join('');
    return new RegExp(`^${pattern}$`, 'iu').test(name);
  }

  /** A fresh robot name (without the `robot:` prefix). */
  render(inputs: RobotNameInputs, now: Date = new Date()): string {
    return this.parts
      .map((part) => {
        if (part.kind === 'literal') return part.text;
        let text = valueText(part.value, inputs, now);
        for (const transform of part.transforms) text = applyTransform(transform, text);
        return text;
      })
      .join('');
  }
}

function parseAction(body: string): Part {
  const [head, ...pipeline] = body.split('|').map((piece) => piece.trim().split(/\s+/));
  const value = parseValue(head ?? [], body);
  const transforms = pipeline.map((words) => parseTransform(words, body));
  return { kind: 'action', value, transforms };
}

function parseValue(words: readonly string[], body: string): Value {
  const [name, argument, ...extra] = words;
  const malformed = () =>
    badRequest(
      `robot_name_template: {{${body.trim()}}} is not one of .RoleName, .DisplayName, unix_time, ` +
        'unix_time_millis or random N (each optionally followed by | truncate N, | lowercase, | uppercase)',
    );
  if (extra.length > 0) throw malformed();
  switch (name) {
    case '.RoleName':
      if (argument !== undefined) throw malformed();
      return { kind: 'role-name' };
    case '.DisplayName':
      if (argument !== undefined) throw malformed();
      return { kind: 'display-name' };
    case 'unix_time':
      if (argument !== undefined) throw malformed();
      return { kind: 'unix-time' };
    case 'unix_time_millis':
      if (argument !== undefined) throw malformed();
      return { kind: 'unix-time-millis' };
    case 'random':
      return { kind: 'random', length: count(argument, 1, MAX_RANDOM_LENGTH, 'random', body) };
    default:
      throw malformed();
  }
}

function parseTransform(words: readonly string[], body: string): Transform {
  const [name, argument, ...extra] = words;
  if (extra.length === 0 && name === 'truncate') {
    return { kind: 'truncate', length: count(argument, 1, MAX_TEMPLATE_LENGTH, 'truncate', body) };
  }
  if (extra.length === 0 && argument === undefined && (name === 'lowercase' || name === 'uppercase'))
    return { kind: name };
  throw badRequest(
    `robot_name_template: in {{${body.trim()}}}, "${words.join(' ')}" is not truncate N, lowercase or uppercase`,
  );
}

function count(text: string | undefined, min: number, max: number, what: string, body: string): number {
  if (text === undefined || !/^\d{1,4}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw badRequest(`robot_name_template: in {{${body.trim()}}}, ${what} takes a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

function valueText(value: Value, inputs: RobotNameInputs, now: Date): string {
  switch (value.kind) {
    case 'role-name':
      return nameSafe(inputs.roleName);
    case 'display-name':
      return nameSafe(inputs.displayName);
    case 'unix-time':
      return String(Math.floor(now.getTime() / 1000));
    case 'unix-time-millis':
      return String(now.getTime());
    case 'random':
      return Array.from({ length: value.length }, () => RANDOM_ALPHABET[randomInt(RANDOM_ALPHABET.length)]).join('');
  }
}

/** Identity data can hold anything; in a name, what a robot name may not hold becomes "-". */
function nameSafe(text: string): string {
  return text.replace(/[^A-Za-z0-9_.@-]/gu, '-');
}

function applyTransform(transform: Transform, text: string): string {
  switch (transform.kind) {
    case 'truncate':
      return [...text].slice(0, transform.length).join('');
    case 'lowercase':
      return text.toLowerCase();
    case 'uppercase':
      return text.toUpperCase();
  }
}
