import { createLogger, type Logger } from '../../plugin/goplugin/logger';
import { Redactor } from '../../plugin/goplugin/redactor';
import { AfterResponse } from '../../plugin/sdk/after-response';
import type { Operation, Request, Secret } from '../../plugin/sdk/logical';
import { InMemoryStorage } from '../../plugin/sdk/storage';

/** A logger that keeps its lines for assertions, scrubbing what its redactor holds. */
export function memoryLogger(): { logger: Logger; lines: string[]; redactor: Redactor } {
  const lines: string[] = [];
  const redactor = new Redactor();
  return {
    logger: createLogger({ module: 'test', level: 'trace', write: (line) => lines.push(line), redactor }),
    lines,
    redactor,
  };
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
    deadline?: number;
    /** Collects the request's after-response work; the caller settles it. */
    afterResponse?: AfterResponse;
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
    deadline: options.deadline,
    afterResponse: (options.afterResponse ?? new AfterResponse()).add,
  };
}
