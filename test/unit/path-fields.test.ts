import { ErrorType, VaultError } from '../../plugin/sdk/errors';
import { Backend, type BackendDefinition } from '../../plugin/sdk/framework';
import { definePath } from '../../plugin/sdk/path';
import { InMemoryStorage } from '../../plugin/sdk/storage';
import { StaticSystemView } from '../../plugin/sdk/system-view';
import { makeRequest, memoryLogger } from './sdk-helpers';

/**
 * A path field (a named capture) is given only by the URL: a body key naming it is refused, so
 * a policy on the body (allowed_parameters, denied_parameters) cannot be sidestepped through it.
 */
function loginLikeBackend(paths?: BackendDefinition['paths']) {
  const seen: Array<{ subject: string | undefined; username: string | undefined }> = [];
  const { logger, redactor } = memoryLogger();
  const backend = new Backend(
    {
      help: 'h',
      operationPrefix: 'test',
      version: 'v1.0.0',
      paths: paths ?? [
        definePath({
          pattern: 'login(?:/(?<subject>.+))?',
          helpSynopsis: 'Log in.',
          fields: {
            subject: { type: 'string', description: 'The subject, in the path.', in: 'path' },
            username: { type: 'string', description: 'The subject, in the body.' },
          },
          operations: {
            update: async (_request, fields) => {
              seen.push({ subject: fields.optionalString('subject'), username: fields.optionalString('username') });
              return { data: { ok: true } };
            },
          },
        }),
      ],
    },
    { storage: new InMemoryStorage(), system: new StaticSystemView(), logger, redactor, config: {}, backendUuid: 'u' },
  );
  return { backend, seen };
}

async function rejection(promise: Promise<unknown>): Promise<VaultError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(VaultError);
    return error as VaultError;
  }
  throw new Error('expected the call to fail');
}

describe('path fields', () => {
  it('refuses a body key that names a path field with a 400, without calling the handler', async () => {
    const { backend, seen } = loginLikeBackend();
    for (const [path, data] of [
      ['login', { subject: 'user:x' }],
      ['login', { subject: null }],
      ['login/user:a', { subject: 'user:x' }],
      ['login', { subject: 'user:x', username: 'user:x' }],
    ] as const) {
      const error = await rejection(backend.handleRequest(makeRequest('update', path, { data })));
      expect(error.type).toBe(ErrorType.InvalidRequest);
      expect(error.message).toBe(
        'field "subject" is part of the path (login/<subject>); it cannot be sent in the request body',
      );
    }
    expect(seen).toEqual([]);
  });

  it('still fills a path field from the URL, and a body field from the body', async () => {
    const { backend, seen } = loginLikeBackend();
    await backend.handleRequest(makeRequest('update', 'login/user:a', { data: { username: 'user:a' } }));
    await backend.handleRequest(makeRequest('update', 'login', { data: { username: 'user:b' } }));
    await backend.handleRequest(makeRequest('update', 'login/user:c'));
    expect(seen).toEqual([
      { subject: 'user:a', username: 'user:a' },
      { subject: undefined, username: 'user:b' },
      { subject: 'user:c', username: undefined },
    ]);
  });

  it('refuses to build a path whose captures and in: path declarations disagree', () => {
    const bodyCapture = definePath({
      pattern: 'x/(?<id>\\d+)',
      helpSynopsis: 's',
      fields: { id: { type: 'string', description: 'd' } },
      operations: { read: async () => undefined },
    });
    expect(() => loginLikeBackend([bodyCapture])).toThrow(
      `path x/(?<id>\\d+): capture "id" must be declared with in: 'path'`,
    );
    const pathFieldWithoutCapture = definePath({
      pattern: 'x',
      helpSynopsis: 's',
      fields: { id: { type: 'string', description: 'd', in: 'path' } },
      operations: { read: async () => undefined },
    });
    expect(() => loginLikeBackend([pathFieldWithoutCapture])).toThrow(
      `path x: field "id" is declared in: 'path' but the pattern has no capture of it`,
    );
  });

  it('documents a path field as a path parameter and never as a body property', async () => {
    const { backend } = loginLikeBackend();
    const response = await backend.handleRequest(makeRequest('help', ''));
    const document = response?.data?.openapi as {
      paths: Record<string, { parameters?: Array<{ name: string; in: string }>; post?: object }>;
    };
    expect(document.paths['/login/{subject}']?.parameters).toMatchObject([{ name: 'subject', in: 'path' }]);
    expect(document.paths['/login']?.parameters).toBeUndefined();
    for (const template of ['/login', '/login/{subject}']) {
      expect(document.paths[template]?.post).toMatchObject({
        requestBody: {
          content: {
            'application/json': { schema: { properties: { username: { type: 'string' } } } },
          },
        },
      });
      expect(JSON.stringify(document.paths[template]?.post)).not.toContain('"subject"');
    }
  });
});
