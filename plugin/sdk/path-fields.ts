/**
 * @file
 * The fields a path's URL fills. A named capture of the pattern is a path field, declared with
 * `in: 'path'`, and only the URL may give it: the framework hands a handler one FieldData made of
 * the request's data and the captures, so a data key named after a capture that did not match
 * (`login` without `/<subject>`) would be read as if it were the path. That would let a caller
 * bypass a Vault policy that constrains the data (allowed_parameters, denied_parameters), so such
 * a key is refused rather than read or dropped.
 */

import { badRequest } from './errors';
import type { FieldSchemas } from './fields';
import { expandPattern } from './openapi';

/** Each path field's name, with the path spelled as people write it: subject → login/<subject>. */
export type PathFields = ReadonlyMap<string, string>;

/**
 * The path fields of a pattern, checked against its declarations both ways: a capture nobody
 * declared `in: 'path'` could be filled from the body, and a field declared so that no capture
 * fills it could never be given. Either is a mistake in the backend, found when it is built.
 */
export function pathFieldsOf(pattern: string, fields: FieldSchemas): PathFields {
  const captures = captureNames(pattern);
  for (const name of captures) {
    const schema = Object.hasOwn(fields, name) ? fields[name] : undefined;
    if (schema === undefined) throw new Error(`path ${pattern}: capture "${name}" must be declared as a field`);
    if (schema.in !== 'path') {
      throw new Error(`path ${pattern}: capture "${name}" must be declared with in: 'path'`);
    }
  }
  for (const [name, schema] of Object.entries(fields)) {
    if (schema.in === 'path' && !captures.includes(name)) {
      throw new Error(`path ${pattern}: field "${name}" is declared in: 'path' but the pattern has no capture of it`);
    }
  }
  const templates = expandPattern(pattern) ?? [];
  return new Map(
    captures.map((name) => {
      const template = templates.find((candidate) => candidate.includes(`{${name}}`));
      return [name, template?.replace(/\{(\w+)\}/g, '<$1>') ?? pattern];
    }),
  );
}

/** A 400 for request data that names a path field, whatever its value (null included). */
export function refusePathFieldsInData(pathFields: PathFields, data: Readonly<Record<string, unknown>>): void {
  const problems = Object.keys(data).flatMap((name) => {
    const spelled = pathFields.get(name);
    return spelled === undefined
      ? []
      : [`field "${name}" is part of the path (${spelled}); it cannot be sent in the request body`];
  });
  if (problems.length > 0) throw badRequest(problems.join('; '));
}

export function captureNames(pattern: string): string[] {
  return [...pattern.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((match) => match[1] ?? '');
}
