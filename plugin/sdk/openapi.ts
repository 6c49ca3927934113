/**
 * @file
 * The OpenAPI 3 document a mount answers `help` with. Vault merges every mount's document into
 * `sys/internal/specs/openapi` (used by the web UI and API tooling) after decoding it into its
 * own structs, so the shape follows Vault's framework: path items with `x-vault-*` extensions,
 * operations keyed get/post/delete, request bodies as component schemas.
 */

import type { FieldSchema } from './fields';
import type { PathDefinition, RoutedOperation } from './path';

type JsonObject = Record<string, unknown>;

const OPENAPI_VERSION = '3.0.2';

/** What the document says about the backend as a whole (a BackendDefinition has it). */
export interface OpenApiBackend {
  help: string;
  operationPrefix: string;
  version: string;
}

/** The special paths the document marks (`x-vault-sudo`, `x-vault-unauthenticated`). */
export interface OpenApiSpecialPaths {
  root: readonly string[];
  unauthenticated: readonly string[];
}

export function openApiDocument(
  backend: OpenApiBackend,
  paths: readonly PathDefinition[],
  specialPaths: OpenApiSpecialPaths,
): JsonObject {
  const documentPaths: Record<string, JsonObject> = {};
  const schemas: Record<string, JsonObject> = {};
  for (const path of paths) {
    for (const template of expandPattern(path.pattern) ?? []) {
      const item = pathItem(backend, path, template, specialPaths, schemas);
      if (item !== undefined) documentPaths[`/${template}`] = item;
    }
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: backend.operationPrefix,
      description: backend.help.trim().split('\n')[0] ?? '',
      version: backend.version,
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    paths: documentPaths,
    components: { schemas },
  };
}

function pathItem(
  backend: OpenApiBackend,
  path: PathDefinition,
  template: string,
  specialPaths: OpenApiSpecialPaths,
  schemas: Record<string, JsonObject>,
): JsonObject | undefined {
  const fields = path.fields ?? {};
  const parameterNames = [...template.matchAll(/\{(\w+)\}/g)].map((match) => match[1] ?? '');
  // A path field is never a body property, not even in the template an optional capture is left
  // out of (`login` beside `login/{subject}`): the framework refuses it in the body.
  const bodyFields = Object.entries(fields).filter(([, field]) => field.in !== 'path');
  const isListPath = template.endsWith('/') || template === '';
  const operations = path.operations;
  const words = operationWords(template);
  const operationId = (verb: string) => [backend.operationPrefix, verb, words].filter((w) => w !== '').join('-');
  const summary = (operation: RoutedOperation) => {
    const declared = operations[operation];
    return typeof declared === 'object' && declared.summary !== undefined ? declared.summary : path.helpSynopsis;
  };
  const ok = { '200': { description: 'OK' } };

  const item: JsonObject = { description: path.helpSynopsis };
  if (parameterNames.length > 0) {
    item.parameters = parameterNames.map((name) => ({
      name,
      description: fields[name]?.description ?? '',
      in: 'path',
      schema: { type: 'string' },
      required: true,
    }));
  }
  if (matchesAny(template, specialPaths.root)) item['x-vault-sudo'] = true;
  if (matchesAny(template, specialPaths.unauthenticated)) item['x-vault-unauthenticated'] = true;
  if (path.existenceCheck !== undefined) item['x-vault-createSupported'] = true;

  let hasOperation = false;
  if (isListPath && operations.list !== undefined) {
    item.get = {
      summary: summary('list'),
      operationId: operationId('list'),
      tags: ['secrets'],
      parameters: [
        {
          name: 'list',
          description: 'Must be set to `true`',
          in: 'query',
          schema: { type: 'string', enum: ['true'] },
          required: true,
        },
      ],
      responses: ok,
    };
    hasOperation = true;
  }
  if (!isListPath || template === '') {
    if (operations.read !== undefined) {
      item.get = { summary: summary('read'), operationId: operationId('read'), tags: ['secrets'], responses: ok };
      hasOperation = true;
    }
    if (operations.update !== undefined || operations.create !== undefined) {
      const post: JsonObject = {
        summary: summary(operations.update !== undefined ? 'update' : 'create'),
        operationId: operationId('write'),
        tags: ['secrets'],
        responses: ok,
      };
      if (bodyFields.length > 0) {
        const schemaName = pascalCase(`${backend.operationPrefix} write ${words} request`);
        const schema = requestSchema(bodyFields);
        schemas[schemaName] = schema;
        // Inline, not a $ref: Vault decodes plugin documents into structs whose `Ref` field
        // mapstructure never fills from "$ref", so a reference would arrive empty.
        post.requestBody = { required: true, content: { 'application/json': { schema } } };
      }
      item.post = post;
      hasOperation = true;
    }
    if (operations.delete !== undefined) {
      item.delete = {
        summary: summary('delete'),
        operationId: operationId('delete'),
        tags: ['secrets'],
        responses: { '204': { description: 'empty body' } },
      };
      hasOperation = true;
    }
  }
  return hasOperation ? item : undefined;
}

function requestSchema(fields: ReadonlyArray<[string, FieldSchema]>): JsonObject {
  const properties: Record<string, JsonObject> = {};
  const required: string[] = [];
  for (const [name, field] of fields) {
    properties[name] = fieldSchema(field);
    if (field.required === true) required.push(name);
  }
  return required.length > 0 ? { type: 'object', properties, required } : { type: 'object', properties };
}

function fieldSchema(field: FieldSchema): JsonObject {
  const schema: JsonObject = { description: field.description };
  switch (field.type) {
    case 'string':
      schema.type = 'string';
      break;
    case 'int':
      schema.type = 'integer';
      break;
    case 'bool':
      schema.type = 'boolean';
      break;
    case 'duration':
      schema.type = 'string';
      schema.format = 'duration';
      break;
    case 'comma-string-list':
      schema.type = 'array';
      schema.items = { type: 'string' };
      break;
    case 'kv-pairs':
      schema.type = 'object';
      schema.additionalProperties = { type: 'string' };
      break;
  }
  if (field.default !== undefined) schema.default = field.default;
  if (field.allowedValues !== undefined) schema.enum = [...field.allowedValues];
  if (field.sensitive === true) schema['x-vault-displaySensitive'] = true;
  if (field.maxLength !== undefined) {
    if (field.type === 'string') schema.maxLength = field.maxLength;
    if (field.type === 'comma-string-list') schema.items = { type: 'string', maxLength: field.maxLength };
  }
  return schema;
}

/** `config/rotate-root` → `config-rotate-root`; parameters are left out. */
function operationWords(template: string): string {
  return template
    .replace(/\{\w+\}/g, '')
    .split(/[/_]+/)
    .filter((word) => word !== '')
    .join('-');
}

function pascalCase(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word !== '')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** Vault's special-path syntax: exact, or a prefix ending in `*`. */
function matchesAny(template: string, patterns: readonly string[]): boolean {
  const concrete = template.replace(/\{\w+\}/g, 'x');
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? concrete.startsWith(pattern.slice(0, -1)) : concrete === pattern,
  );
}

/**
 * The OpenAPI path templates a path pattern stands for: named groups become `{name}`, optional
 * parts give one template with and one without. Returns undefined for patterns that use regex
 * features outside a named group (those paths are left out of the document).
 */
export function expandPattern(pattern: string): string[] | undefined {
  const expanded = expandAlternatives(pattern);
  if (expanded === undefined) return undefined;
  return [...new Set(expanded.map((path) => path.replace(/\/{2,}/g, '/')))];
}

function expandAlternatives(source: string): string[] | undefined {
  const alternatives = splitTopLevel(source, '|');
  const results: string[] = [];
  for (const alternative of alternatives) {
    const expanded = expandSequence(alternative);
    if (expanded === undefined) return undefined;
    results.push(...expanded);
  }
  return results;
}

function expandSequence(source: string): string[] | undefined {
  let results = [''];
  let index = 0;
  while (index < source.length) {
    const char = source.charAt(index);
    let piece: string[];
    if (char === '^' || char === '$') {
      index++;
      continue;
    } else if (char === '\\') {
      const escaped = source.charAt(index + 1);
      if (!/[/.\-_]/.test(escaped)) return undefined;
      piece = [escaped];
      index += 2;
    } else if (char === '(') {
      const close = closingParenthesis(source, index);
      if (close === -1) return undefined;
      const inner = source.slice(index + 1, close);
      const named = /^\?<(\w+)>/.exec(inner);
      if (named !== null) {
        piece = [`{${named[1] ?? ''}}`];
      } else {
        const expanded = expandAlternatives(inner.startsWith('?:') ? inner.slice(2) : inner);
        if (expanded === undefined) return undefined;
        piece = expanded;
      }
      index = close + 1;
    } else if (/[A-Za-z0-9/_.-]/.test(char)) {
      piece = [char];
      index++;
    } else {
      return undefined;
    }
    if (source.charAt(index) === '?') {
      piece = [...piece, ''];
      index++;
    }
    results = results.flatMap((prefix) => piece.map((suffix) => prefix + suffix));
  }
  return results;
}

/**
 * The characters of a regular expression that are syntax, with the group depth after each:
 * escaped characters and the insides of character classes are skipped.
 */
function* syntaxCharacters(source: string, from = 0): Generator<{ index: number; char: string; depth: number }> {
  let depth = 0;
  let inClass = false;
  for (let index = from; index < source.length; index++) {
    const char = source.charAt(index);
    if (char === '\\') {
      index++;
    } else if (inClass) {
      if (char === ']') inClass = false;
    } else if (char === '[') {
      inClass = true;
    } else {
      if (char === '(') depth++;
      if (char === ')') depth--;
      yield { index, char, depth };
    }
  }
}

function closingParenthesis(source: string, open: number): number {
  for (const { index, char, depth } of syntaxCharacters(source, open)) {
    if (char === ')' && depth === 0) return index;
  }
  return -1;
}

function splitTopLevel(source: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (const { index, char, depth } of syntaxCharacters(source)) {
    if (char === separator && depth === 0) {
      parts.push(source.slice(start, index));
      start = index + 1;
    }
  }
  parts.push(source.slice(start));
  return parts;
}
