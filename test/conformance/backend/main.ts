/**
 * A test-only backend built on plugin/sdk that exercises every framework feature the
 * conformance suite checks: typed fields, existence checks, list, secrets with renew and revoke,
 * large bodies, the periodic hook, logging, typed errors, the system view and help/OpenAPI.
 * It is served exactly like the product, so the Go suite drives it through Vault's own client.
 */
import { createHash, randomUUID } from 'node:crypto';
import { formatDuration, nanosToSeconds, secondsToNanos } from '../../../plugin/sdk/duration';
import { badRequest, codedError, internalError, permissionDenied } from '../../../plugin/sdk/errors';
import type { FieldData } from '../../../plugin/sdk/fields';
import { Backend, leaseResponse, listResponse, type BackendConfig } from '../../../plugin/sdk/framework';
import type { LogLevel } from '../../../plugin/goplugin/logger';
import type { Request } from '../../../plugin/sdk/logical';
import { definePath, type Path } from '../../../plugin/sdk/path';
import { serveBackend } from '../../../plugin/sdk/serve';
import { getJson, putJson } from '../../../plugin/sdk/storage';
import { PLUGIN_VERSION } from '../../../plugin/pachyderm/version';

const SECRET_TYPE = 'test_secret';
const HOUR = secondsToNanos(3600);

function createConformanceBackend(config: BackendConfig): Backend {
  let periodicRuns = 0;
  const logger = config.logger.named('conformance');

  const kvFields = {
    key: { type: 'string', description: 'Key under kv/ (may contain slashes).', in: 'path' },
    value: { type: 'string', description: 'A string value.' },
    count: { type: 'int', description: 'An integer.' },
    enabled: { type: 'bool', description: 'A boolean.' },
    ttl: { type: 'duration', description: 'A duration (seconds or Go style).' },
    tags: { type: 'comma-string-list', description: 'A list of strings.' },
    labels: { type: 'kv-pairs', description: 'A map of strings.' },
  } as const;

  type KvField = keyof typeof kvFields;

  const kvWrite = (operation: 'create' | 'update') => async (request: Request, fields: FieldData<KvField>) => {
    const key = `kv/${fields.string('key')}`;
    const stored = operation === 'update' ? ((await getJson<Record<string, unknown>>(request.storage, key)) ?? {}) : {};
    if (fields.has('value')) stored.value = fields.string('value');
    if (fields.has('count')) stored.count = fields.int('count');
    if (fields.has('enabled')) stored.enabled = fields.bool('enabled');
    if (fields.has('ttl')) stored.ttl = nanosToSeconds(fields.duration('ttl'));
    if (fields.has('tags')) stored.tags = fields.stringList('tags');
    if (fields.has('labels')) stored.labels = fields.stringMap('labels');
    stored.written_by = operation;
    await putJson(request.storage, key, stored);
    return undefined;
  };

  const paths: Path[] = [
    definePath({
      pattern: 'kv/?',
      helpSynopsis: 'List keys under kv/.',
      operations: {
        list: async (request) => listResponse(await request.storage.list('kv/')),
      },
    }),
    definePath({
      pattern: 'kv/(?<key>.+)',
      fields: kvFields,
      helpSynopsis: 'A typed key/value entry.',
      existenceCheck: async (request, fields) =>
        (await request.storage.get(`kv/${fields.string('key')}`)) !== undefined,
      operations: {
        create: kvWrite('create'),
        update: kvWrite('update'),
        read: async (request, fields) => {
          const stored = await getJson<Record<string, unknown>>(request.storage, `kv/${fields.string('key')}`);
          return stored === undefined ? undefined : { data: stored };
        },
        delete: async (request, fields) => {
          await request.storage.delete(`kv/${fields.string('key')}`);
          return undefined;
        },
      },
    }),
    definePath({
      pattern: 'secret/(?<name>\\w+)',
      fields: {
        name: { type: 'string', description: 'Name of the secret.', in: 'path' },
        ttl: { type: 'duration', description: 'Lease TTL.', default: 3600 },
        max_ttl: { type: 'duration', description: 'Lease max TTL.' },
      },
      helpSynopsis: 'Issue a test secret behind a lease.',
      operations: {
        read: async (_request, fields) => issueSecret(fields),
        update: async (_request, fields) => issueSecret(fields),
      },
    }),
    definePath({
      pattern: '(?<what>revoked|renewed)/(?<name>\\w+)',
      fields: {
        what: { type: 'string', description: 'revoked or renewed.', in: 'path' },
        name: { type: 'string', description: 'Name of the secret.', in: 'path' },
      },
      helpSynopsis: 'What the last revoke or renew of a secret received.',
      operations: {
        read: async (request, fields) => {
          const seen = await getJson<Record<string, unknown>>(
            request.storage,
            `${fields.string('what')}/${fields.string('name')}`,
          );
          return seen === undefined ? undefined : { data: { internal_data: seen } };
        },
      },
    }),
    definePath({
      pattern: 'big',
      fields: { payload: { type: 'string', description: 'A large string.' } },
      helpSynopsis: 'Stores and returns a large value.',
      operations: {
        update: async (request, fields) => {
          await request.storage.put({ key: 'big', value: Buffer.from(fields.string('payload'), 'utf8') });
          return undefined;
        },
        read: async (request) => {
          const entry = await request.storage.get('big');
          if (entry === undefined) return undefined;
          return {
            data: {
              payload: entry.value.toString('utf8'),
              length: entry.value.length,
              sha256: createHash('sha256').update(entry.value).digest('hex'),
            },
          };
        },
      },
    }),
    definePath({
      pattern: 'periodic',
      helpSynopsis: 'How often the periodic hook ran.',
      operations: { read: async () => ({ data: { runs: periodicRuns } }) },
    }),
    definePath({
      pattern: 'log',
      fields: {
        level: {
          type: 'string',
          description: 'Log level.',
          allowedValues: ['trace', 'debug', 'info', 'warn', 'error'],
          default: 'info',
        },
        message: { type: 'string', description: 'The message.' },
        admin_token: { type: 'string', description: 'A secret that must be redacted.', sensitive: true },
      },
      helpSynopsis: 'Emit a log line.',
      operations: {
        update: async (_request, fields) => {
          const level = fields.string('level') as LogLevel;
          const extra = fields.has('admin_token') ? { admin_token: fields.string('admin_token') } : {};
          logger[level](fields.string('message'), extra);
          return undefined;
        },
      },
    }),
    definePath({
      pattern: 'errors/(?<kind>\\w+)',
      fields: { kind: { type: 'string', description: 'Which error.', in: 'path' } },
      helpSynopsis: 'Fail in a chosen way.',
      operations: {
        read: async (_request, fields) => {
          switch (fields.string('kind')) {
            case 'bad_request':
              throw badRequest('bad request from the conformance backend');
            case 'coded':
              throw codedError(418, "I'm a teapot");
            case 'permission':
              throw permissionDenied('the conformance backend says no');
            case 'internal':
              throw internalError('the conformance backend broke');
            default:
              throw badRequest(`unknown error kind ${fields.string('kind')}`);
          }
        },
      },
    }),
    definePath({
      pattern: 'sys',
      helpSynopsis: 'What the system view says.',
      operations: {
        read: async () => ({
          data: {
            default_lease_ttl: nanosToSeconds(await config.system.defaultLeaseTtl()),
            max_lease_ttl: nanosToSeconds(await config.system.maxLeaseTtl()),
            tainted: await config.system.tainted(),
            local_mount: await config.system.localMount(),
            replication_state: await config.system.replicationState(),
          },
        }),
      },
    }),
    definePath({
      pattern: 'whoami',
      helpSynopsis: "The caller's identity entity.",
      operations: {
        read: async (request) => {
          const entity = request.entityId === '' ? undefined : await config.system.entityInfo(request.entityId);
          return { data: { entity_id: request.entityId, entity_name: entity?.name ?? '' } };
        },
      },
    }),
    definePath({
      pattern: 'status',
      helpSynopsis: 'What Setup and Initialize saw.',
      operations: {
        read: async (request) => ({
          data: {
            initialized: (await request.storage.get('initialized')) !== undefined,
            setup_config: config.config,
            backend_uuid: config.backendUuid,
          },
        }),
      },
    }),
    definePath({
      pattern: 'admin/ping',
      helpSynopsis: 'A root-protected path.',
      operations: { read: async () => ({ data: { pong: true } }) },
    }),
  ];

  function issueSecret(fields: FieldData<'name' | 'ttl' | 'max_ttl'>) {
    const name = fields.string('name');
    const ttl = fields.duration('ttl') || HOUR;
    const maxTtl = fields.duration('max_ttl');
    return leaseResponse({
      secretType: SECRET_TYPE,
      data: { name, value: `s3cret-${name}` },
      internalData: { name, nonce: randomUUID(), issued_at: new Date().toISOString() },
      ttl,
      maxTtl,
      renewable: true,
    });
  }

  return new Backend(
    {
      help: 'A test-only backend for the conformance suite.',
      operationPrefix: 'conformance',
      version: PLUGIN_VERSION,
      paths,
      secrets: [
        {
          type: SECRET_TYPE,
          description: 'A test secret.',
          renew: async (request, secret) => {
            await putJson(request.storage, `renewed/${String(secret.internalData.name)}`, secret.internalData);
            const increment = secret.leaseOptions.increment;
            const ttl = increment > 0n ? increment : secret.leaseOptions.ttl;
            logger.debug('renewing test secret', { ttl: formatDuration(ttl) });
            return { ttl };
          },
          revoke: async (request, secret) => {
            await putJson(request.storage, `revoked/${String(secret.internalData.name)}`, secret.internalData);
          },
        },
      ],
      specialPaths: {
        root: ['admin/*'],
        unauthenticated: ['public'],
        localStorage: ['local/'],
        sealWrapStorage: ['config'],
      },
      periodic: async () => {
        periodicRuns++;
      },
      initialize: async (storage) => {
        await putJson(storage, 'initialized', { at: new Date().toISOString() });
      },
    },
    config,
  );
}

void serveBackend({
  name: 'conformance-backend',
  runByHandMessage:
    'This executable is a test-only backend for the conformance suite of the Pachyderm secrets engine: ' +
    'a plugin that Vault or OpenBao starts itself, not a program to run by hand.',
  certificateOrganization: 'pachyderm-vault-plugin conformance backend',
  version: PLUGIN_VERSION,
  factory: createConformanceBackend,
});
