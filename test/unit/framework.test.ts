import { ErrorType, VaultError } from '../../plugin/sdk/errors';
import {
  Backend,
  leaseResponse,
  listResponse,
  SECRET_TYPE_KEY,
  type BackendDefinition,
} from '../../plugin/sdk/framework';
import { expandPattern } from '../../plugin/sdk/openapi';
import { definePath } from '../../plugin/sdk/path';
import { InMemoryStorage, putJson } from '../../plugin/sdk/storage';
import { StaticSystemView } from '../../plugin/sdk/system-view';
import { putWal, listWal } from '../../plugin/sdk/wal';
import { makeRequest, memoryLogger } from './sdk-helpers';

async function rejection(promise: Promise<unknown>): Promise<VaultError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    return error as VaultError;
  }
  throw new Error('expected the call to fail');
}

function testBackend(overrides: Partial<BackendDefinition> = {}) {
  const storage = new InMemoryStorage();
  const calls: string[] = [];
  const rolledBack: string[] = [];
  let periodicRuns = 0;
  const definition: BackendDefinition = {
    help: 'A test backend.\nMore words.',
    operationPrefix: 'test',
    version: 'v1.2.3',
    paths: [
      definePath({
        pattern: 'items/?',
        helpSynopsis: 'List items.',
        operations: { list: async (r) => listResponse(await r.storage.list('items/')) },
      }),
      definePath({
        pattern: 'items/(?<name>\\w+)',
        helpSynopsis: 'One item.',
        fields: {
          name: { type: 'string', description: 'Item name.', in: 'path' },
          size: { type: 'int', description: 'Item size.', default: 1 },
        },
        existenceCheck: async (request, fields) =>
          (await request.storage.get(`items/${fields.string('name')}`)) !== undefined,
        operations: {
          create: async (request, fields) => {
            calls.push('create');
            await putJson(request.storage, `items/${fields.string('name')}`, { size: fields.int('size') });
            return undefined;
          },
          update: async (request, fields) => {
            calls.push('update');
            await putJson(request.storage, `items/${fields.string('name')}`, { size: fields.int('size') });
            return undefined;
          },
          read: {
            summary: 'Read one item.',
            handler: async (request, fields) => {
              const entry = await request.storage.get(`items/${fields.string('name')}`);
              return entry === undefined
                ? undefined
                : { data: JSON.parse(entry.value.toString()) as Record<string, unknown> };
            },
          },
        },
      }),
      definePath({
        pattern: 'creds/(?<name>\\w+)',
        helpSynopsis: 'Issue a credential.',
        fields: { name: { type: 'string', description: 'Name.', in: 'path' } },
        operations: {
          read: async (_request, fields) =>
            leaseResponse({
              secretType: 'cred',
              data: { value: `v-${fields.string('name')}` },
              internalData: { name: fields.string('name'), token: 't0k3n' },
              ttl: 3600n * 1_000_000_000n,
              maxTtl: 7200n * 1_000_000_000n,
              renewable: true,
            }),
        },
      }),
    ],
    secrets: [
      {
        type: 'cred',
        description: 'A credential.',
        renew: async (_request, secret) => ({ ttl: secret.leaseOptions.increment, internalData: { renewed: true } }),
        revoke: async (_request, secret) => {
          calls.push(`revoke ${String(secret.internalData.name)}`);
          return { warnings: ['revoked'] };
        },
      },
    ],
    periodic: async () => {
      periodicRuns++;
    },
    walRollback: async (_request, entry) => {
      if (entry.kind === 'stuck') throw new Error('still stuck');
      rolledBack.push(entry.kind);
    },
    walRollbackMinAgeMs: 60_000,
    ...overrides,
  };
  const { logger, lines, redactor } = memoryLogger();
  const backend = new Backend(definition, {
    storage,
    system: new StaticSystemView(),
    logger,
    redactor,
    config: {},
    backendUuid: 'uuid',
  });
  return { backend, storage, calls, rolledBack, lines, periodicRuns: () => periodicRuns };
}

describe('framework routing', () => {
  it('answers create, read, update and list through declared handlers', async () => {
    const { backend, storage, calls } = testBackend();
    const check = await backend.existenceCheck(makeRequest('create', 'items/a', { storage }));
    expect(check).toEqual({ checkFound: true, exists: false });
    await backend.handleRequest(makeRequest('create', 'items/a', { storage, data: { size: '5' } }));
    expect(await backend.existenceCheck(makeRequest('update', 'items/a', { storage }))).toEqual({
      checkFound: true,
      exists: true,
    });
    await backend.handleRequest(makeRequest('update', 'items/a', { storage, data: { size: 6 } }));
    expect(calls).toEqual(['create', 'update']);
    expect((await backend.handleRequest(makeRequest('read', 'items/a', { storage })))?.data).toEqual({ size: 6 });
    expect(await backend.handleRequest(makeRequest('read', 'items/zz', { storage }))).toBeUndefined();
    expect((await backend.handleRequest(makeRequest('list', 'items/', { storage })))?.data).toEqual({ keys: ['a'] });
  });

  it('says there is no existence check where none is declared', async () => {
    const { backend } = testBackend();
    expect(await backend.existenceCheck(makeRequest('update', 'creds/x'))).toEqual({
      checkFound: false,
      exists: false,
    });
  });

  it('gives 404 for unknown paths and 405 for undeclared operations', async () => {
    const { backend } = testBackend();
    expect((await rejection(backend.handleRequest(makeRequest('read', 'nope/x')))).type).toBe(
      ErrorType.UnsupportedPath,
    );
    expect((await rejection(backend.existenceCheck(makeRequest('update', 'nope/x')))).type).toBe(
      ErrorType.UnsupportedPath,
    );
    const error = await rejection(backend.handleRequest(makeRequest('delete', 'items/a', { data: { size: 'bad' } })));
    expect(error.type).toBe(ErrorType.UnsupportedOperation);
  });

  it('rejects badly typed fields with a 400 naming the field', async () => {
    const { backend } = testBackend();
    const error = await rejection(backend.handleRequest(makeRequest('update', 'items/a', { data: { size: 'big' } })));
    expect(error.type).toBe(ErrorType.InvalidRequest);
    expect(error.asResponse).toBe(true);
    expect(error.message).toContain('field "size"');
  });

  it('warns about unknown parameters', async () => {
    const { backend, storage } = testBackend();
    await backend.handleRequest(makeRequest('create', 'items/a', { storage }));
    const response = await backend.handleRequest(makeRequest('read', 'items/a', { storage, data: { colour: 'red' } }));
    expect(response?.warnings).toEqual(['Endpoint ignored these unrecognized parameters: [colour]']);
  });

  it('refuses to define an existence check without a create handler or an undeclared capture', () => {
    expect(() =>
      testBackend({
        paths: [
          definePath({
            pattern: 'x/(?<id>\\d+)',
            helpSynopsis: 's',
            fields: { id: { type: 'string', description: 'd', in: 'path' } },
            existenceCheck: async () => true,
            operations: { update: async () => undefined },
          }),
        ],
      }),
    ).toThrow(/needs a create handler/);
    expect(() =>
      testBackend({
        paths: [
          definePath({ pattern: 'x/(?<id>\\d+)', helpSynopsis: 's', operations: { read: async () => undefined } }),
        ],
      }),
    ).toThrow(/must be declared/);
  });
});

describe('framework secrets', () => {
  it('tags the lease and echoes internal data on renew', async () => {
    const { backend } = testBackend();
    const issued = await backend.handleRequest(makeRequest('read', 'creds/ci'));
    const secret = issued!.secret!;
    expect(secret.internalData).toEqual({ name: 'ci', token: 't0k3n', [SECRET_TYPE_KEY]: 'cred' });
    expect(secret.issueTime).toBeInstanceOf(Date);
    const issueTime = new Date('2026-01-01T00:00:00Z');
    const renewed = await backend.handleRequest(
      makeRequest('renew', 'creds/ci', {
        secret: {
          leaseOptions: {
            ttl: secret.ttl,
            maxTtl: secret.maxTtl,
            renewable: true,
            increment: 1800n * 1_000_000_000n,
            issueTime,
          },
          internalData: secret.internalData,
          leaseId: '',
        },
      }),
    );
    expect(renewed?.secret).toEqual({
      ttl: 1800n * 1_000_000_000n,
      maxTtl: 7200n * 1_000_000_000n,
      renewable: true,
      internalData: { ...secret.internalData, renewed: true },
      issueTime,
    });
  });

  it('dispatches revoke by the type tag and fails loudly on an unknown tag', async () => {
    const { backend, calls } = testBackend();
    const leaseOptions = { ttl: 1n, maxTtl: 1n, renewable: true, increment: 0n, issueTime: new Date() };
    const response = await backend.handleRequest(
      makeRequest('revoke', 'creds/ci', {
        secret: { leaseOptions, internalData: { name: 'ci', [SECRET_TYPE_KEY]: 'cred' }, leaseId: '' },
      }),
    );
    expect(calls).toEqual(['revoke ci']);
    expect(response?.warnings).toEqual(['revoked']);
    const error = await rejection(
      backend.handleRequest(
        makeRequest('revoke', 'creds/ci', {
          secret: { leaseOptions, internalData: { [SECRET_TYPE_KEY]: 'other' }, leaseId: '' },
        }),
      ),
    );
    expect(error.type).toBe(ErrorType.Internal);
  });
});

describe('framework rollback', () => {
  it('runs the periodic hook and rolls back only WAL entries past the minimum age', async () => {
    const { backend, storage, rolledBack, periodicRuns, lines } = testBackend();
    await putWal(storage, 'old', {}, Date.now() - 120_000);
    await putWal(storage, 'stuck', {}, Date.now() - 120_000);
    await putWal(storage, 'young', {}, Date.now());
    expect(await backend.handleRequest(makeRequest('rollback', '', { storage }))).toBeUndefined();
    expect(periodicRuns()).toBe(1);
    expect(rolledBack).toEqual(['old']);
    expect(await listWal(storage)).toHaveLength(2);
    expect(lines.join('')).toContain('WAL rollback failed');
    await backend.handleRequest(makeRequest('rollback', '', { storage, data: { immediate: true } }));
    expect(periodicRuns()).toBe(2);
    expect(rolledBack).toEqual(['old', 'young']);
  });
});

describe('help and OpenAPI', () => {
  it('answers help on the root path with an OpenAPI document of every path', async () => {
    const { backend } = testBackend();
    const response = await backend.handleRequest(
      makeRequest('help', '', { data: { requestResponsePrefix: 'secret' } }),
    );
    const data = response!.data!;
    expect(data.help).toContain('A test backend.');
    const document = data.openapi as {
      openapi: string;
      info: { version: string };
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(document.openapi).toBe('3.0.2');
    expect(document.info.version).toBe('v1.2.3');
    expect(Object.keys(document.paths).sort()).toEqual(['/creds/{name}', '/items/', '/items/{name}']);
    const item = document.paths['/items/{name}']!;
    expect(item['x-vault-createSupported']).toBe(true);
    expect(item.get).toMatchObject({ operationId: 'test-read-items', summary: 'Read one item.' });
    expect(item.post).toMatchObject({ operationId: 'test-write-items' });
    // Inline rather than $ref: Vault's decoder of plugin documents drops "$ref".
    expect(item.post).toMatchObject({
      requestBody: {
        content: { 'application/json': { schema: { type: 'object', properties: { size: { type: 'integer' } } } } },
      },
    });
    expect(document.paths['/items/']!.get).toMatchObject({ operationId: 'test-list-items' });
    expect(document.components.schemas.TestWriteItemsRequest).toEqual({
      type: 'object',
      properties: { size: { type: 'integer', description: 'Item size.', default: 1 } },
    });
    expect(() => JSON.stringify(document)).not.toThrow();
  });

  it('answers help on a path with its fields', async () => {
    const { backend } = testBackend();
    const response = await backend.handleRequest(makeRequest('help', 'items/a'));
    expect(response?.data?.help).toContain('size (int)');
    expect(Object.keys((response?.data?.openapi as { paths: object }).paths)).toEqual(['/items/{name}']);
  });

  it('turns patterns into path templates', () => {
    expect(expandPattern('roles/(?<name>\\w(([\\w-.]+)?\\w)?)')).toEqual(['roles/{name}']);
    expect(expandPattern('login(/(?<subject>.+))?')).toEqual(['login/{subject}', 'login']);
    expect(expandPattern('version(/client-only)?')).toEqual(['version/client-only', 'version']);
    expect(expandPattern('roles/?')).toEqual(['roles/', 'roles']);
    expect(expandPattern('(?<what>a|b)/x')).toEqual(['{what}/x']);
    expect(expandPattern('a+b')).toBeUndefined();
  });
});

describe('framework rollback on a node that cannot write', () => {
  it('leaves the WAL alone on a performance standby, but still runs the periodic hook', async () => {
    const { backend, storage, rolledBack, periodicRuns } = testBackend();
    (backend.config.system as StaticSystemView).replicationStateValue = 1 << 14; // performance standby
    await putWal(storage, 'old', {}, Date.now() - 120_000);
    await backend.handleRequest(makeRequest('rollback', '', { storage }));
    expect(periodicRuns()).toBe(1);
    expect(rolledBack).toEqual([]);
    expect(await listWal(storage)).toHaveLength(1);
  });

  it('rolls back on a performance secondary, whose issuance writes WAL entries to local storage', async () => {
    const { backend, storage, rolledBack } = testBackend();
    (backend.config.system as StaticSystemView).replicationStateValue = 1 << 6; // performance secondary
    await putWal(storage, 'old', {}, Date.now() - 120_000);
    await backend.handleRequest(makeRequest('rollback', '', { storage }));
    expect(rolledBack).toEqual(['old']);
    expect(await listWal(storage)).toEqual([]);
  });
});

describe('framework sensitive fields', () => {
  it('names the fields its paths and secrets mark sensitive to the redactor, which keeps them out of log lines', () => {
    const { logger, lines, redactor } = memoryLogger();
    new Backend(
      {
        help: 'h',
        operationPrefix: 'test',
        version: 'v1.0.0',
        paths: [
          definePath({
            pattern: 'config',
            helpSynopsis: 'Configure.',
            fields: {
              api_key: { type: 'string', description: 'k', sensitive: true },
              region: { type: 'string', description: 'r' },
            },
            operations: { update: async () => undefined },
          }),
        ],
        secrets: [
          {
            type: 's',
            description: 's',
            fields: { password: { type: 'string', description: 'p', sensitive: true } },
            revoke: async () => undefined,
          },
        ],
      },
      {
        storage: new InMemoryStorage(),
        system: new StaticSystemView(),
        logger,
        redactor,
        config: {},
        backendUuid: 'uuid',
      },
    );
    expect(['api_key', 'password', 'region'].map((name) => redactor.isSecretFieldName(name))).toEqual([
      true,
      true,
      false,
    ]);
    logger.info('configured', { api_key: 'k-123-456789', password: 'p-123-456789', region: 'eu-west' });
    expect(lines.join('')).not.toMatch(/k-123-456789|p-123-456789/);
    expect(lines.join('')).toContain('eu-west');
  });
});

describe('framework rollback with a damaged WAL', () => {
  it('skips an unreadable entry, keeps it, and rolls back the others', async () => {
    const { backend, storage, rolledBack, lines } = testBackend();
    await putWal(storage, 'first', {}, Date.now() - 120_000);
    await storage.put({ key: 'wal/garbage', value: Buffer.from('{not json') });
    await putWal(storage, 'second', {}, Date.now() - 120_000);
    await backend.handleRequest(makeRequest('rollback', '', { storage }));
    expect(rolledBack.sort()).toEqual(['first', 'second']);
    expect(await listWal(storage)).toEqual(['garbage']);
    expect(lines.join('')).toContain('cannot read a WAL entry');
  });
});
