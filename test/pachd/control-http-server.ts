import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import type { ContentionSettings } from './contention-model';
import type { CreateProjectSpec, CreateRepoSpec, CreateTokenSpec } from './pachd-emulation';
import type { ContentionRequest, StandinControl } from './standin-control';

/** A request the control server rejects with 400 and this text. */
class BadControlRequest extends Error {}

type JsonBody = Record<string, unknown>;

const MAX_BODY_BYTES = 1 << 20;

const CONTENTION_FIELDS: ReadonlyArray<keyof ContentionSettings> = [
  'baseMs',
  'doublingEvery',
  'stallFrom',
  'stallStep',
  'stallMax',
  'stallMaxMs',
  'seed',
];

function optionalString(body: JsonBody, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new BadControlRequest(`${key} must be a string`);
  return value;
}

function requiredString(body: JsonBody, key: string): string {
  const value = optionalString(body, key);
  if (value === undefined) throw new BadControlRequest(`${key} is required`);
  return value;
}

function optionalNumber(body: JsonBody, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new BadControlRequest(`${key} must be a number`);
  }
  return value;
}

function requiredNumber(body: JsonBody, key: string): number {
  const value = optionalNumber(body, key);
  if (value === undefined) throw new BadControlRequest(`${key} is required`);
  return value;
}

function optionalStringList(body: JsonBody, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw new BadControlRequest(`${key} must be a list of strings`);
  }
  return value;
}

function optionalBoolean(body: JsonBody, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new BadControlRequest(`${key} must be a boolean`);
  return value;
}

async function readJsonBody(request: http.IncomingMessage): Promise<JsonBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new BadControlRequest('request body is too large');
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BadControlRequest('request body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadControlRequest('request body must be a JSON object');
  }
  return parsed as JsonBody;
}

type Route = (body: JsonBody, pathParameter: string) => unknown;

/**
 * HTTP+JSON over StandinControl, for Go tests and curl. Every answer is a JSON object; failures
 * are {"error": "..."} with 400 (bad request) or 404 (no such route or token).
 */
export class ControlHttpServer {
  private readonly server: http.Server;
  private readonly routes: Map<string, Route>;

  constructor(
    private readonly control: StandinControl,
    private readonly logger: Logger,
  ) {
    this.routes = this.buildRoutes();
    this.server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        this.logger.error({ err: error }, 'control request failed');
        if (!response.headersSent) this.reply(response, 500, { error: String(error) });
      });
    });
  }

  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    const shownHost = address.address.includes(':') ? `[${address.address}]` : address.address;
    return `http://${shownHost}:${address.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private buildRoutes(): Map<string, Route> {
    const control = this.control;
    return new Map<string, Route>([
      ['GET /info', () => control.info()],
      ['GET /tokens', () => ({ tokens: control.listTokens() })],
      [
        'POST /tokens',
        (body) => {
          const spec: CreateTokenSpec = { subject: requiredString(body, 'subject') };
          const ttlSeconds = optionalNumber(body, 'ttlSeconds');
          const token = optionalString(body, 'token');
          const roles = optionalStringList(body, 'roles');
          if (ttlSeconds !== undefined) spec.ttlSeconds = ttlSeconds;
          if (token !== undefined) spec.token = token;
          if (roles !== undefined) spec.roles = roles;
          return control.createToken(spec);
        },
      ],
      [
        'DELETE /tokens/',
        (_body, hash) => {
          if (!control.deleteToken(hash)) throw new NotFound(`no token with hash ${hash}`);
          return { deleted: hash };
        },
      ],
      ['POST /tokens/purge-expired', () => ({ deleted: control.purgeExpiredTokens() })],
      ['GET /tokens/history', () => ({ tokens: control.tokenHistory() })],
      ['GET /clock', () => control.clock()],
      [
        'POST /clock/advance',
        (body) => {
          const seconds = optionalNumber(body, 'seconds');
          const milliseconds = optionalNumber(body, 'milliseconds');
          if (seconds === undefined && milliseconds === undefined) {
            throw new BadControlRequest('seconds or milliseconds is required');
          }
          return control.advanceClock((seconds ?? 0) + (milliseconds ?? 0) / 1000);
        },
      ],
      ['GET /roles', () => ({ bindings: control.clusterRoleBindings() })],
      [
        'PUT /roles',
        (body) => ({
          bindings: control.setClusterRoles(requiredString(body, 'principal'), optionalStringList(body, 'roles') ?? []),
        }),
      ],
      [
        'POST /repos',
        (body) => {
          const spec: CreateRepoSpec = { name: requiredString(body, 'name') };
          const project = optionalString(body, 'project');
          const owner = optionalString(body, 'owner');
          if (project !== undefined) spec.project = project;
          if (owner !== undefined) spec.owner = owner;
          return control.createRepo(spec);
        },
      ],
      [
        'DELETE /repos/',
        (_body, path) => {
          // `project/name` on 2.5+, the bare name before and on 1.x.
          const slash = path.indexOf('/');
          const project = slash < 0 ? undefined : path.slice(0, slash);
          const name = slash < 0 ? path : path.slice(slash + 1);
          if (!control.deleteRepo(project, name)) throw new NotFound(`no repo ${path}`);
          return { deleted: path };
        },
      ],
      [
        'POST /projects',
        (body) => {
          const spec: CreateProjectSpec = { name: requiredString(body, 'name') };
          const owner = optionalString(body, 'owner');
          if (owner !== undefined) spec.owner = owner;
          return control.createProject(spec);
        },
      ],
      [
        'DELETE /projects/',
        (_body, name) => {
          if (!control.deleteProject(name)) throw new NotFound(`no project ${name}`);
          return { deleted: name };
        },
      ],
      ['GET /bindings', () => ({ resources: control.resourceBindings() })],
      [
        'POST /auth/deactivate',
        (body) => {
          const wipe = optionalBoolean(body, 'wipe');
          control.deactivateAuth(wipe === undefined ? {} : { wipe });
          return { activated: false };
        },
      ],
      ['POST /auth/activate', () => ({ activated: true, ...control.activateAuth() })],
      ['GET /faults', () => control.faults()],
      [
        'POST /faults/latency',
        (body) => control.setLatency(optionalString(body, 'method'), requiredNumber(body, 'ms')),
      ],
      [
        'POST /faults/error',
        (body) => {
          const count = optionalNumber(body, 'count');
          const method = optionalString(body, 'method');
          return control.injectError({
            code: requiredNumber(body, 'code'),
            message: optionalString(body, 'message') ?? 'injected by the pachd stand-in',
            ...(count === undefined ? {} : { count }),
            ...(method === undefined ? {} : { method }),
          });
        },
      ],
      ['POST /faults/error/clear', (body) => control.clearErrors(optionalString(body, 'method'))],
      [
        'POST /faults/unavailable',
        (body) => {
          const durationMs = optionalNumber(body, 'durationMs');
          return control.makeUnavailable(durationMs === undefined ? {} : { durationMs });
        },
      ],
      ['POST /faults/available', () => control.makeAvailable()],
      [
        'POST /faults/contention',
        (body) => {
          const enabled = optionalBoolean(body, 'enabled');
          if (enabled === undefined) throw new BadControlRequest('enabled is required');
          const request: ContentionRequest = { enabled };
          for (const key of CONTENTION_FIELDS) {
            const value = optionalNumber(body, key);
            if (value !== undefined) request[key] = value;
          }
          return control.setContention(request);
        },
      ],
      ['POST /faults/reset', () => control.resetFaults()],
      ['GET /stats', () => control.stats()],
      ['POST /stats/reset', () => control.resetStats()],
    ]);
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://control');
    const method = request.method ?? 'GET';
    let route = this.routes.get(`${method} ${url.pathname}`);
    let pathParameter = '';
    if (route === undefined && method === 'DELETE') {
      // Routes whose last segments name what to delete.
      for (const prefix of ['/tokens/', '/repos/', '/projects/']) {
        if (!url.pathname.startsWith(prefix)) continue;
        route = this.routes.get(`DELETE ${prefix}`);
        pathParameter = url.pathname.slice(prefix.length).split('/').map(decodeURIComponent).join('/');
        break;
      }
    }
    if (route === undefined) {
      this.reply(response, 404, { error: `no control route ${method} ${url.pathname}` });
      return;
    }
    try {
      const body = await readJsonBody(request);
      const result = await route(body, pathParameter);
      this.reply(response, 200, result);
    } catch (error) {
      const status = error instanceof NotFound ? 404 : 400;
      this.reply(response, status, { error: error instanceof Error ? error.message : String(error) });
    }
  }

  private reply(response: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    response.end(text);
  }
}

class NotFound extends Error {}
