import { nanosToSeconds } from '../sdk/duration';
import { badRequest, codedError } from '../sdk/errors';
import type { FieldData } from '../sdk/fields';
import type { PathDefinition } from '../sdk/framework';
import type { Request, Response } from '../sdk/logical';
import {
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  type EngineConfig,
  type GenerationSetting,
  type ObservedPachd,
} from './config';
import type { Engine } from './engine';
import { parseAddress } from './pachd-access';
import { PachdError } from './pachd/errors';
import { tokenFingerprint } from './pachd/token';

const GENERATIONS: readonly GenerationSetting[] = ['auto', '1', '2'];
const EXPIRY_WARNING_MS = 7 * 24 * 3600 * 1000;

export function configPath(engine: Engine): PathDefinition {
  return {
    pattern: 'config',
    helpSynopsis: 'Where pachd is and the admin token this engine issues tokens with.',
    helpDescription: `
Writes are checked against pachd before anything is stored: the address must answer, the
admin token must be valid and allowed to issue tokens (1.x: a cluster admin; 2.x: clusterAdmin
for user tokens, robotUser for robot tokens), and auth must be active. Set verify_connection=false
to store without asking pachd. Updates may name only the fields that change.

Reads never return admin_token; they show its fingerprint (the first 16 hex digits of the
SHA-256 pachd stores for it), whose token it is, when it expires, and pachd's version.`,
    fields: {
      pachd_address: {
        type: 'string',
        description:
          'pachd address: host:port, grpc://host:port, grpcs://host:port (TLS), http(s)://host:port or ' +
          'unix:///path (2.x). The port defaults to 30650.',
      },
      admin_token: {
        type: 'string',
        description: 'A pachd token allowed to issue tokens. Write-only: never returned.',
        sensitive: true,
      },
      ttl: { type: 'duration', description: "Default lease TTL of issued tokens; 0 uses the mount's default lease TTL." },
      max_ttl: { type: 'duration', description: "Default max TTL of issued tokens; 0 uses the mount's max lease TTL." },
      pachd_tls_ca: {
        type: 'string',
        description: 'PEM CA certificates to trust for a TLS (grpcs://, https://) pachd_address; the system roots when empty.',
      },
      request_timeout: {
        type: 'duration',
        description: 'Deadline of each call to pachd.',
        default: DEFAULT_REQUEST_TIMEOUT_SECONDS,
      },
      generation: {
        type: 'string',
        description: 'pachd API generation: "auto" asks pachd\'s version API; "1" or "2" forces one.',
        allowedValues: GENERATIONS,
        default: 'auto',
      },
      verify_connection: {
        type: 'bool',
        description: 'Check the address and admin token against pachd before storing (default true).',
        default: true,
      },
    },
    existenceCheck: async (request) => (await engine.configs.load(request.storage)) !== undefined,
    operations: {
      read: { summary: 'Read the configuration (without the admin token).', handler: (request) => readConfig(engine, request) },
      create: { summary: 'Configure pachd and the admin token.', handler: (request, fields) => writeConfig(engine, request, fields) },
      update: { summary: 'Change the configuration.', handler: (request, fields) => writeConfig(engine, request, fields) },
      delete: {
        summary: 'Delete the configuration.',
        handler: async (request) => {
          await engine.configs.delete(request.storage);
          engine.pachd.close();
          return undefined;
        },
      },
    },
  };
}

async function readConfig(engine: Engine, request: Request): Promise<Response | undefined> {
  const config = await engine.configs.load(request.storage);
  return config === undefined ? undefined : { data: describeConfig(config) };
}

export function describeConfig(config: EngineConfig): Record<string, unknown> {
  const observed = config.observed;
  return {
    pachd_address: config.pachd_address,
    pachd_tls_ca: config.pachd_tls_ca,
    ttl: config.ttl_seconds,
    max_ttl: config.max_ttl_seconds,
    request_timeout: config.request_timeout_seconds,
    generation: config.generation,
    admin_token_fingerprint: tokenFingerprint(config.admin_token),
    admin_subject: observed?.admin_subject ?? null,
    admin_token_expires_at: observed?.admin_expires_at ?? null,
    pachd_generation: observed?.generation ?? null,
    pachd_version: observed?.pachd_version ?? null,
    can_issue_user_tokens: observed?.can_mint_users ?? null,
    can_issue_robot_tokens: observed?.can_mint_robots ?? null,
    verified_at: observed?.verified_at ?? null,
  };
}

async function writeConfig(engine: Engine, request: Request, fields: FieldData): Promise<Response | undefined> {
  const existing = await engine.configs.load(request.storage);
  const pick = <T>(name: string, read: () => T, fallback: T): T => (fields.has(name) ? read() : fallback);
  const next: EngineConfig = {
    version: 1,
    pachd_address: pick('pachd_address', () => fields.string('pachd_address').trim(), existing?.pachd_address ?? ''),
    admin_token: pick('admin_token', () => fields.string('admin_token').trim(), existing?.admin_token ?? ''),
    ttl_seconds: pick('ttl', () => nanosToSeconds(fields.duration('ttl')), existing?.ttl_seconds ?? 0),
    max_ttl_seconds: pick('max_ttl', () => nanosToSeconds(fields.duration('max_ttl')), existing?.max_ttl_seconds ?? 0),
    pachd_tls_ca: pick('pachd_tls_ca', () => fields.string('pachd_tls_ca').trim(), existing?.pachd_tls_ca ?? ''),
    request_timeout_seconds: pick(
      'request_timeout',
      () => nanosToSeconds(fields.duration('request_timeout')),
      existing?.request_timeout_seconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ),
    generation: pick('generation', () => fields.string('generation') as GenerationSetting, existing?.generation ?? 'auto'),
  };

  if (next.pachd_address === '') throw badRequest('missing required field "pachd_address"');
  if (next.admin_token === '') throw badRequest('missing required field "admin_token"');
  const address = parseAddress(next.pachd_address);
  next.pachd_address = address.canonical;
  if (next.pachd_tls_ca !== '' && !address.tls) {
    throw badRequest('pachd_tls_ca is set but pachd_address does not use TLS: use grpcs:// or https://');
  }
  if (next.pachd_tls_ca !== '' && !next.pachd_tls_ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw badRequest('pachd_tls_ca must hold PEM certificates (-----BEGIN CERTIFICATE-----)');
  }
  if (next.max_ttl_seconds > 0 && next.ttl_seconds > next.max_ttl_seconds) {
    throw badRequest(`ttl ${next.ttl_seconds}s is above max_ttl ${next.max_ttl_seconds}s`);
  }
  if (next.request_timeout_seconds < 1) throw badRequest('request_timeout must be at least one second');

  const warnings: string[] = [];
  if (fields.bool('verify_connection')) {
    next.observed = await verify(engine, next, warnings);
  } else {
    const unchanged =
      existing !== undefined &&
      existing.pachd_address === next.pachd_address &&
      existing.admin_token === next.admin_token &&
      existing.generation === next.generation;
    if (unchanged && existing.observed !== undefined) next.observed = existing.observed;
    else warnings.push('stored without checking pachd (verify_connection=false)');
  }
  await engine.configs.save(request.storage, next);
  engine.logger.info('configuration written', {
    pachd_address: next.pachd_address,
    admin_subject: next.observed?.admin_subject,
    admin_token_fingerprint: tokenFingerprint(next.admin_token),
  });
  return warnings.length > 0 ? { warnings } : undefined;
}

/** Asks pachd what this configuration would get; nothing is stored when it fails. */
async function verify(engine: Engine, config: EngineConfig, warnings: string[]): Promise<ObservedPachd> {
  const connection = engine.pachd.connection(config);
  try {
    const version = await engine.pachd.version(connection, true);
    const generation = config.generation === 'auto' ? version.generation : Number(config.generation) === 1 ? 1 : 2;
    if (generation !== version.generation) {
      warnings.push(`generation is forced to ${generation}, but pachd ${version.version} speaks generation ${version.generation}`);
    }
    const admin = await engine.pachd.authority(connection, generation).verifyAdmin(config.admin_token);
    if (admin.shortfall !== undefined) {
      throw badRequest(`admin_token cannot issue tokens: ${admin.shortfall}`);
    }
    if (!admin.canMint.users) warnings.push(`${admin.subject} can issue robot tokens only (no CLUSTER_AUTH_RESTORE_TOKEN)`);
    if (admin.expiresAt !== null && admin.expiresAt.getTime() - Date.now() < EXPIRY_WARNING_MS) {
      warnings.push(
        `the admin token expires at ${admin.expiresAt.toISOString()}; rotate it with <mount>/config/rotate-root or write a new one`,
      );
    }
    return {
      generation,
      pachd_version: version.version,
      admin_subject: admin.subject,
      admin_expires_at: admin.expiresAt?.toISOString() ?? null,
      can_mint_users: admin.canMint.users,
      can_mint_robots: admin.canMint.robots,
      verified_at: new Date().toISOString(),
    };
  } catch (error) {
    throw configError(error, connection.address.canonical);
  }
}

function configError(error: unknown, address: string): unknown {
  if (!(error instanceof PachdError)) return error;
  switch (error.failure) {
    case 'unauthenticated':
      return badRequest(
        `pachd at ${address} rejected admin_token (expired, revoked, or from another cluster): ${error.detail}`,
      );
    case 'permission-denied':
      return badRequest(`admin_token is not a pachd admin: ${error.message}`);
    case 'not-activated':
      return codedError(502, `${error.message}; activate auth (pachctl auth activate) before configuring this engine`);
    case 'unreachable':
      return codedError(502, `cannot verify the configuration: ${error.message}`);
    default:
      return codedError(502, `cannot verify the configuration: ${error.message}`);
  }
}
