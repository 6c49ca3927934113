import { createLogger, type Logger } from '../../plugin/goplugin/logger';
import type { Operation, Request, Secret } from '../../plugin/sdk/logical';
import { InMemoryStorage } from '../../plugin/sdk/storage';

/** A logger that keeps its lines for assertions. */
export function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ module: 'test', level: 'trace', write: (line) => lines.push(line) }), lines };
}

export function makeRequest(
  operation: Operation,
  path: string,
  options: {
    data?: Record<string, unknown>;
    storage?: InMemoryStorage;
    secret?: Secret;
    entityId?: string;
    cancelled?: () => boolean;
  } = {},
): Request {
  return {
    id: 'req-1',
    operation,
    path,
    data: options.data ?? {},
    secret: options.secret,
    headers: {},
    clientToken: 'hmac-of-token',
    clientTokenAccessor: 'accessor',
    displayName: 'token',
    mountPoint: 'pachyderm/',
    mountType: 'pachyderm',
    mountAccessor: 'pachyderm_1234',
    entityId: options.entityId ?? '',
    unauthenticated: false,
    remoteAddress: undefined,
    storage: options.storage ?? new InMemoryStorage(),
    cancelled: options.cancelled ?? (() => false),
  };
}
