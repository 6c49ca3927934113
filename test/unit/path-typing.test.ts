import type { FieldData, FieldSchemas } from '../../plugin/sdk/fields';
import { Backend, type BackendDefinition } from '../../plugin/sdk/framework';
import { definePath, type Path } from '../../plugin/sdk/path';
import { InMemoryStorage } from '../../plugin/sdk/storage';
import { StaticSystemView } from '../../plugin/sdk/system-view';
import { makeRequest, memoryLogger } from './sdk-helpers';

/**
 * What the compiler refuses. `npx tsc` fails on an `@ts-expect-error` that no longer marks an
 * error, so each one below proves a way of reading an undeclared field does not compile; jest
 * runs the same code to show the run-time check that stays behind it.
 */
function backendOf(paths: readonly Path[]): Backend {
  const { logger, redactor } = memoryLogger();
  const definition: BackendDefinition = { help: 'h', operationPrefix: 'test', version: 'v1.0.0', paths };
  return new Backend(definition, {
    storage: new InMemoryStorage(),
    system: new StaticSystemView(),
    logger,
    redactor,
    config: {},
    backendUuid: 'u',
  });
}

const itemFields = {
  name: { type: 'string', description: 'Item name.', in: 'path' },
  size: { type: 'int', description: 'Item size.' },
} as const;

describe('reading a field the path does not declare', () => {
  it('does not compile in a handler or an existence check, and throws if it runs anyway', async () => {
    const item = definePath({
      pattern: 'items/(?<name>\\w+)',
      helpSynopsis: 'One item.',
      fields: itemFields,
      existenceCheck: async (_request, fields) => {
        // @ts-expect-error -- "colour" is not declared on this path
        return fields.has('colour');
      },
      operations: {
        create: async () => undefined,
        read: async (_request, fields) => {
          const size = fields.int('size');
          // @ts-expect-error -- "colour" is not declared on this path
          return { data: { size, colour: fields.string('colour') } };
        },
      },
    });
    const backend = backendOf([item]);
    await expect(backend.handleRequest(makeRequest('read', 'items/a'))).rejects.toThrow(
      'field "colour" is not declared on this path',
    );
    await expect(backend.existenceCheck(makeRequest('create', 'items/a'))).rejects.toThrow(
      'field "colour" is not declared on this path',
    );
  });

  it('does not compile in a path without fields', async () => {
    const bare = definePath({
      pattern: 'bare',
      helpSynopsis: 'No fields.',
      operations: {
        // @ts-expect-error -- a path without fields declares no name
        read: async (_request, fields) => ({ data: { name: fields.string('name') } }),
      },
    });
    await expect(backendOf([bare]).handleRequest(makeRequest('read', 'bare'))).rejects.toThrow(
      'field "name" is not declared on this path',
    );
  });

  it('does not compile in a helper that reads more than the path declares, or any name at all', () => {
    const readsColour = (fields: FieldData<'size' | 'colour'>) => fields.string('colour');
    const readsAnything = (fields: FieldData) => fields.string('colour');
    const readsSize = (fields: FieldData<'size'>) => fields.int('size');
    definePath({
      pattern: 'items/(?<name>\\w+)',
      helpSynopsis: 'One item.',
      fields: itemFields,
      operations: {
        // @ts-expect-error -- the helper may read "colour", which the path does not declare
        read: async (_request, fields) => ({ data: { colour: readsColour(fields) } }),
        // @ts-expect-error -- the helper may read any name
        update: async (_request, fields) => ({ data: { colour: readsAnything(fields) } }),
        // A helper that reads fewer names than the path declares is fine.
        delete: async (_request, fields) => ({ data: { size: readsSize(fields) } }),
      },
    });
  });

  it('does not compile for fields typed as plain FieldSchemas, whose names the compiler does not know', () => {
    const wide: FieldSchemas = itemFields;
    definePath({
      pattern: 'items/(?<name>\\w+)',
      helpSynopsis: 'One item.',
      // @ts-expect-error -- FieldSchemas names every string, so handlers could read any name
      fields: wide,
      operations: { read: async (_request, fields) => ({ data: { colour: fields.string('colour') } }) },
    });
  });

  it('does not compile for a path the backend gets without definePath', () => {
    const unchecked = {
      pattern: 'items/(?<name>\\w+)',
      helpSynopsis: 'One item.',
      fields: itemFields as FieldSchemas,
      operations: { read: async (_request: unknown, fields: FieldData) => ({ data: { c: fields.string('c') } }) },
    };
    // @ts-expect-error -- only definePath makes a Path
    expect(() => backendOf([unchecked])).not.toThrow();
  });
});
