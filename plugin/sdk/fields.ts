/**
 * @file
 * Declared request fields: each path says which fields it takes, of what type, with what
 * meaning. That declaration drives parsing (a wrong type is a 400 naming the field), `help`
 * and the OpenAPI document. Values arrive as JSON from the HTTP API or as strings from
 * `vault write k=v`, so every type accepts its string spelling too.
 */

import { parseDuration, type Nanoseconds } from './duration';
import { badRequest } from './errors';

export type FieldType =
  | 'string'
  | 'int'
  | 'bool'
  /** Seconds as a number, or a Go-style duration string (`90`, `"1h30m"`, `"30d"`). */
  | 'duration'
  /** A JSON array of strings or one comma-separated string. */
  | 'comma-string-list'
  /** A JSON object of strings, or `["k=v", ...]`. */
  | 'kv-pairs';

export interface FieldSchema {
  type: FieldType;
  description: string;
  default?: string | number | boolean | readonly string[];
  required?: boolean;
  allowedValues?: readonly string[];
  /** Shown masked in the UI and never echoed back, not even in an error about its value. */
  sensitive?: boolean;
  /** Longest accepted string (or list item), in characters; longer values are a 400. */
  maxLength?: number;
  /**
   * Where the value comes from, as OpenAPI says it. `'path'`: a named capture of the path's
   * pattern, which only the request's URL fills; a body (or query) key of the same name is a 400,
   * so a policy that constrains the body cannot be sidestepped through the path's own field.
   * Absent: the request's data. Every capture must be declared so, and nothing else may be.
   */
  in?: 'path';
}

export type FieldSchemas = Readonly<Record<string, FieldSchema>>;

type FieldValue = string | number | boolean | bigint | string[] | Record<string, unknown>;

/**
 * The parsed fields of one request: path captures and body, checked against the schema. `Name`
 * is the names the holder may read: a handler gets the names its path declares, and can pass its
 * FieldData on only to code that reads no others (hence `in`: FieldData<'a' | 'b'> is usable as
 * FieldData<'a'>, never the reverse). Reading an undeclared name still throws at run time, for
 * callers the compiler does not see.
 */
export class FieldData<in Name extends string = string> {
  private readonly values = new Map<string, FieldValue>();
  private readonly schemas: FieldSchemas;
  /** Fields the request named that the path does not declare (Vault warns about these). */
  readonly unknownFields: readonly string[];

  constructor(declared: Readonly<Record<Name, FieldSchema>>, raw: Readonly<Record<string, unknown>>) {
    const schemas: FieldSchemas = declared;
    this.schemas = schemas;
    const unknown: string[] = [];
    const problems: string[] = [];
    for (const [name, value] of Object.entries(raw)) {
      // Own properties only: a body key such as "constructor" must not find Object's.
      const schema = Object.hasOwn(schemas, name) ? schemas[name] : undefined;
      if (schema === undefined) {
        unknown.push(name);
        continue;
      }
      if (value === null || value === undefined) continue;
      const parsed = parseField(name, schema, value);
      if (parsed.ok) this.values.set(name, parsed.value);
      else problems.push(parsed.problem);
    }
    for (const [name, schema] of Object.entries(schemas)) {
      if (schema.required === true && !this.values.has(name)) {
        problems.push(`missing required field "${name}"`);
      }
    }
    if (problems.length > 0) throw badRequest(problems.join('; '));
    this.unknownFields = unknown.sort();
  }

  /** Whether the caller supplied the field (defaults do not count). */
  has(name: Name): boolean {
    this.schema(name);
    return this.values.has(name);
  }

  string(name: Name): string {
    return this.typed(name, 'string', (value) => (typeof value === 'string' ? value : undefined)) ?? '';
  }

  optionalString(name: Name): string | undefined {
    return this.has(name) ? this.string(name) : undefined;
  }

  int(name: Name): number {
    return this.typed(name, 'int', (value) => (typeof value === 'number' ? value : undefined)) ?? 0;
  }

  bool(name: Name): boolean {
    return this.typed(name, 'bool', (value) => (typeof value === 'boolean' ? value : undefined)) ?? false;
  }

  /** A duration in nanoseconds; 0 when absent without default. */
  duration(name: Name): Nanoseconds {
    return this.typed(name, 'duration', (value) => (typeof value === 'bigint' ? value : undefined)) ?? 0n;
  }

  optionalDuration(name: Name): Nanoseconds | undefined {
    return this.has(name) ? this.duration(name) : undefined;
  }

  stringList(name: Name): string[] {
    return this.typed(name, 'comma-string-list', (value) => (Array.isArray(value) ? [...value] : undefined)) ?? [];
  }

  stringMap(name: Name): Record<string, string> {
    const value = this.typed(name, 'kv-pairs', (v) => (isObject(v) ? { ...v } : undefined)) ?? {};
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  }

  private schema(name: Name): FieldSchema {
    const schema = Object.hasOwn(this.schemas, name) ? this.schemas[name] : undefined;
    if (schema === undefined) throw new Error(`field "${name}" is not declared on this path`);
    return schema;
  }

  private typed<T>(name: Name, type: FieldType, pick: (value: FieldValue) => T | undefined): T | undefined {
    const schema = this.schema(name);
    if (schema.type !== type) {
      throw new Error(`field "${name}" is declared as ${schema.type}, read as ${type}`);
    }
    const value = this.values.get(name);
    if (value !== undefined) return pick(value);
    if (schema.default === undefined) return undefined;
    const parsed = parseField(name, schema, schema.default);
    if (!parsed.ok) throw new Error(`default of field "${name}" is invalid: ${parsed.problem}`);
    return pick(parsed.value);
  }
}

type Parsed = { ok: true; value: FieldValue } | { ok: false; problem: string };

function ok(value: FieldValue): Parsed {
  return { ok: true, value };
}

/** How much of a rejected value an error message repeats. */
const ECHO_LIMIT = 64;

function problem(name: string, schema: FieldSchema, expected: string, value: unknown): Parsed {
  return { ok: false, problem: `field "${name}": expected ${expected}, got ${echo(schema, value)}` };
}

/** A rejected value as an error may show it: never a sensitive one, never more than a line. */
function echo(schema: FieldSchema, value: unknown): string {
  if (schema.sensitive === true) return 'a value that is not shown (the field is sensitive)';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = typeof value;
  }
  return text.length > ECHO_LIMIT ? `${text.slice(0, ECHO_LIMIT)}… (${text.length} characters)` : text;
}

function parseField(name: string, schema: FieldSchema, value: unknown): Parsed {
  switch (schema.type) {
    case 'string': {
      if (typeof value === 'string') return checkAllowed(name, schema, value);
      if (typeof value === 'number' || typeof value === 'boolean') {
        return checkAllowed(name, schema, String(value));
      }
      return problem(name, schema, 'a string', value);
    }
    case 'int': {
      const number = typeof value === 'string' && /^[-+]?\d+$/.test(value.trim()) ? Number(value) : value;
      if (typeof number === 'number' && Number.isSafeInteger(number)) return ok(number);
      return problem(name, schema, 'an integer', value);
    }
    case 'bool': {
      if (typeof value === 'boolean') return ok(value);
      if (typeof value === 'string' || typeof value === 'number') {
        const text = String(value).trim().toLowerCase();
        if (['true', '1', 't'].includes(text)) return ok(true);
        if (['false', '0', 'f'].includes(text)) return ok(false);
      }
      return problem(name, schema, 'a boolean', value);
    }
    case 'duration': {
      const nanos = parseDuration(value);
      if (nanos === undefined) {
        return problem(name, schema, 'a duration such as 3600, "1h" or "30m", of at most 292 years', value);
      }
      if (nanos < 0n) return problem(name, schema, 'a duration that is not negative', value);
      return ok(nanos);
    }
    case 'comma-string-list': {
      if (typeof value === 'string') {
        return checkLengths(
          name,
          schema,
          value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== ''),
        );
      }
      if (Array.isArray(value) && value.every((item) => typeof item === 'string' || typeof item === 'number')) {
        return checkLengths(
          name,
          schema,
          value.map((item) => String(item).trim()).filter((item) => item !== ''),
        );
      }
      return problem(name, schema, 'a list of strings or a comma-separated string', value);
    }
    case 'kv-pairs': {
      if (isObject(value) && Object.values(value).every((v) => typeof v === 'string')) return ok(value);
      const list = typeof value === 'string' ? value.split(',') : value;
      if (Array.isArray(list) && list.every((item) => typeof item === 'string' && item.includes('='))) {
        return ok(
          Object.fromEntries(
            (list as string[]).map((item) => {
              const at = item.indexOf('=');
              return [item.slice(0, at).trim(), item.slice(at + 1).trim()];
            }),
          ),
        );
      }
      return problem(name, schema, 'an object of strings or a list of key=value', value);
    }
  }
}

function checkAllowed(name: string, schema: FieldSchema, value: string): Parsed {
  if (schema.allowedValues !== undefined && !schema.allowedValues.includes(value)) {
    const allowed = schema.allowedValues.map((v) => JSON.stringify(v)).join(', ');
    return { ok: false, problem: `field "${name}": ${echo(schema, value)} is not one of ${allowed}` };
  }
  return checkLengths(name, schema, value);
}

function checkLengths<T extends string | string[]>(name: string, schema: FieldSchema, value: T): Parsed {
  const limit = schema.maxLength;
  if (limit === undefined) return ok(value);
  const longest =
    typeof value === 'string' ? value.length : value.reduce((most, item) => Math.max(most, item.length), 0);
  if (longest > limit) {
    return { ok: false, problem: `field "${name}": longer than ${limit} characters (${longest})` };
  }
  return ok(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
