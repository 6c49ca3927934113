import { formatDuration, nanosToSeconds, secondsToNanos } from '../sdk/duration';
import { badRequest } from '../sdk/errors';
import type { FieldData } from '../sdk/fields';
import { definePath, type Path } from '../sdk/path';
import type { Request, Response } from '../sdk/logical';
import {
  DEFAULT_MAX_WRITES_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
  MAX_REQUEST_TIMEOUT_SECONDS,
  MAX_WRITES_IN_FLIGHT_LIMIT,
  type EngineConfig,
  type GenerationSetting,
  type PachdObservation,
  type RotationSettings,
  type RotationState,
} from './mount/config';
import type { Engine } from './mount/engine';
import { issuanceOf } from './issuance/issuance-mode';
import { defaultTtls, ENGINE_DEFAULT_MAX_TTL, ENGINE_DEFAULT_TTL } from './issuance/lease-ttl';
import { isConfiguredAddress, parseAddress } from './mount/pachd-clients';
import { isSendableToken } from './pachd/connection';
import { tokenFingerprint } from './pachd/token-material';
import { observePachd } from './mount/pachd-observation';
import { DISCARD_ROOT_TOKEN_FIELD, prepareAdminTokenRelease } from './admin/admin-token-retirement';
import { vaultErrorFromPachd } from './mount/upstream-errors';
import {
  expiryRotationTime,
  MIN_ROTATION_PERIOD_SECONDS,
  nextScheduledRotation,
  validateRotationSettings,
} from './mount/rotation-schedule';
import { adminTokenStopsWorkingAt, stopsWorkingWarning } from './admin/rotation-scheduler';

const GENERATIONS: readonly GenerationSetting[] = ['auto', '1', '2'];
const EXPIRY_WARNING_MS = 7 * 24 * 3600 * 1000;
/** pachd's tokens are 32 hex characters; a root token set in pachd's configuration may be longer, never this long. */
export const MAX_TOKEN_LENGTH = 1024;
const MAX_ADDRESS_LENGTH = 1024;
/** A CA bundle; large enough for a whole system bundle, small enough for every storage backend's entry limit. */
const MAX_TLS_CA_LENGTH = 256 * 1024;

export function configPath(engine: Engine): Path {
  return definePath({
    pattern: 'config',
    helpSynopsis: 'Where pachd is and the admin token this engine issues tokens with.',
    helpDescription: `
Writes are checked against pachd before anything is stored: the address must answer, the
admin token must be valid and allowed to issue tokens (1.x: a cluster admin; 2.x: clusterAdmin
for user tokens, robotUser for robot tokens), and auth must be active. Set verify_connection=false
to store without asking pachd. Updates may name only the fields that change. Writes never
overlap each other or a rotation of the admin token.

Reads never return admin_token; they show its fingerprint (the first 16 hex digits of the
SHA-256 pachd stores for it), whose token it is, when it expires, pachd's version, how tokens are
issued (issuance_mode: "restore" when the engine picks and journals every token value before
pachd sees it, "pachd-generated" when pachd picks it), and the ttl and max_ttl that apply when
no role sets them.

Scheduled rotation: the engine rotates the admin token itself, as config/rotate-root does, every
rotation_period or at each rotation_schedule time (5-field cron, UTC), and an expiring admin
token at two thirds of its life (at least 10 minutes before it expires) with or without a
schedule. A failed rotation is retried after 1 minute, doubling to 1 hour; after 5 failures in a
row the engine waits for the next scheduled time or an operator's rotate-root. Reads show
last_rotation, next_rotation and the last error.`,
    fields: {
      pachd_address: {
        type: 'string',
        description:
          'pachd address: host:port, grpc://host:port, grpcs://host:port (TLS), http(s)://host:port or ' +
          'unix:///path (2.x). The port defaults to 30650.',
        maxLength: MAX_ADDRESS_LENGTH,
      },
      admin_token: {
        type: 'string',
        description: 'A pachd token allowed to issue tokens. Write-only: never returned.',
        sensitive: true,
        maxLength: MAX_TOKEN_LENGTH,
      },
      ttl: {
        type: 'duration',
        description:
          `Default lease TTL of issued tokens; 0 uses ${formatDuration(ENGINE_DEFAULT_TTL)} ` +
          "(or the mount's default lease TTL if lower).",
      },
      max_ttl: {
        type: 'duration',
        description:
          `Default max TTL of issued tokens, and so the longest a 2.x token lives at pachd; 0 uses ` +
          `${formatDuration(ENGINE_DEFAULT_MAX_TTL)} (or the mount's max lease TTL if lower).`,
      },
      pachd_tls_ca: {
        type: 'string',
        description:
          'PEM CA certificates to trust for a TLS (grpcs://, https://) pachd_address; the system roots when empty.',
        maxLength: MAX_TLS_CA_LENGTH,
      },
      request_timeout: {
        type: 'duration',
        description: `Deadline of each call to pachd, at most ${MAX_REQUEST_TIMEOUT_SECONDS}s.`,
        default: DEFAULT_REQUEST_TIMEOUT_SECONDS,
      },
      pachd_max_in_flight: {
        type: 'int',
        description:
          'Most token writes (issue, revoke, rotate) this Vault node sends to this pachd at once, across all mounts; ' +
          "the rest wait their turn within their request's deadline. 0 removes the bound.",
        default: DEFAULT_MAX_WRITES_IN_FLIGHT,
      },
      generation: {
        type: 'string',
        description: 'pachd API generation: "auto" asks pachd\'s version API; "1" or "2" forces one.',
        allowedValues: GENERATIONS,
        default: 'auto',
      },
      rotation_period: {
        type: 'duration',
        description:
          `Rotate the admin token this often (at least ${MIN_ROTATION_PERIOD_SECONDS}s); 0 or absent: no period. ` +
          'Not with rotation_schedule.',
      },
      rotation_schedule: {
        type: 'string',
        description:
          'Rotate the admin token at these times: a standard 5-field cron expression (minute hour day-of-month ' +
          'month day-of-week), read in UTC; empty: none. Not with rotation_period.',
        maxLength: 256,
      },
      rotation_window: {
        type: 'duration',
        description:
          'How long after a rotation_schedule time a rotation may still start; past it, the rotation waits for the ' +
          'next time. 0 or absent: no limit. Only with rotation_schedule.',
      },
      disable_automated_rotation: {
        type: 'bool',
        description: 'Never rotate the admin token without an operator: neither on the schedule nor before it expires.',
        default: false,
      },
      verify_connection: {
        type: 'bool',
        description: 'Check the address and admin token against pachd before storing (default true).',
        default: true,
      },
      [DISCARD_ROOT_TOKEN_FIELD]: {
        type: 'bool',
        description:
          'Let a write that replaces admin_token, or a delete, drop a pach:root token that config/rotate-root ' +
          "minted: the cluster's only root token, which no one else holds. Without it such a change is refused.",
        default: false,
      },
    },
    existenceCheck: async (request) => (await engine.configs.load(request.storage)) !== undefined,
    operations: {
      read: {
        summary: 'Read the configuration (without the admin token).',
        handler: (request) => readConfig(engine, request),
      },
      create: {
        summary: 'Configure pachd and the admin token.',
        handler: (request, fields) => writeConfig(engine, request, fields),
      },
      update: {
        summary: 'Change the configuration.',
        handler: (request, fields) => writeConfig(engine, request, fields),
      },
      delete: {
        summary: 'Delete the configuration.',
        handler: async (request, fields) => {
          const warnings = await engine.configs.update(request, async (current, writer) => {
            if (current === undefined) return [];
            const release = await prepareAdminTokenRelease(
              engine,
              request,
              current,
              fields.bool(DISCARD_ROOT_TOKEN_FIELD),
            );
            await writer.delete();
            return release();
          });
          engine.pachd.close();
          engine.observations.clear();
          return warnings.length > 0 ? { warnings } : undefined;
        },
      },
    },
  });
}

async function readConfig(engine: Engine, request: Request): Promise<Response | undefined> {
  const config = await engine.configs.load(request.storage);
  if (config === undefined) return undefined;
  const mountDefaultTtl = await engine.system.defaultLeaseTtl();
  const mountMaxTtl = await engine.system.maxLeaseTtl();
  const warnings = rotationWarnings(config);
  return {
    data: describeConfig(config, defaultTtls(mountDefaultTtl, mountMaxTtl)),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

function rotationWarnings(config: EngineConfig): string[] {
  const warnings: string[] = [];
  const state = config.rotation ?? {};
  if (state.given_up_until !== undefined) {
    warnings.push(
      `automated rotation of the admin token stopped after ${state.failures ?? 0} failed attempt(s) (last, at ` +
        `${state.last_error_at ?? 'an unknown time'}: ${state.last_error ?? 'unknown'}); it tries again ` +
        (state.given_up_until === null
          ? 'only after an operator rotates it (config/rotate-root) or writes a new admin_token'
          : `at ${state.given_up_until}, or sooner if an operator rotates it (config/rotate-root)`),
    );
  }
  const stopsAt = adminTokenStopsWorkingAt(config);
  if (stopsAt !== undefined) warnings.push(stopsWorkingWarning(stopsAt));
  return warnings;
}

/** When the engine next tries to rotate the admin token on its own; null when it will not. */
function nextAttempt(config: EngineConfig): string | null {
  if (config.disable_automated_rotation === true) return null;
  const state = config.rotation ?? {};
  if (state.given_up_until !== undefined) return state.given_up_until;
  if (state.retry_at !== undefined) return state.retry_at;
  const times: number[] = [];
  if (state.next_rotation !== undefined) times.push(Date.parse(state.next_rotation));
  const expiresAt = config.observed?.admin_expires_at ?? null;
  if (expiresAt !== null && config.observed !== undefined) {
    const issuedAt = config.admin_token_minted?.minted_at ?? config.observed.verified_at;
    times.push(expiryRotationTime(new Date(issuedAt), new Date(expiresAt)).getTime());
  }
  return times.length === 0 ? null : new Date(Math.min(...times)).toISOString();
}

export function describeConfig(
  config: EngineConfig,
  defaults: { ttl: bigint; maxTtl: bigint },
): Record<string, unknown> {
  const observation = config.observed;
  const stopsAt = adminTokenStopsWorkingAt(config);
  const issuance = observation === undefined ? undefined : issuanceOf(observation);
  const maxTtl = config.max_ttl_seconds > 0 ? config.max_ttl_seconds : nanosToSeconds(defaults.maxTtl);
  const ttl = Math.min(config.ttl_seconds > 0 ? config.ttl_seconds : nanosToSeconds(defaults.ttl), maxTtl);
  return {
    pachd_address: config.pachd_address,
    pachd_tls_ca: config.pachd_tls_ca,
    ttl: config.ttl_seconds,
    max_ttl: config.max_ttl_seconds,
    effective_ttl: ttl,
    effective_max_ttl: maxTtl,
    effective_max_ttl_note:
      (config.max_ttl_seconds > 0
        ? 'max_ttl'
        : `the engine's default (${formatDuration(ENGINE_DEFAULT_MAX_TTL)}, or the mount's max lease TTL if lower)`) +
      ` applies to roles and logins that set none: on pachd 2.x it is how long their tokens live at pachd, so a ` +
      `lease ` +
      `lost outside the engine's control (lease revoke -force, a restored snapshot) leaves its token alive at most ` +
      `${formatDuration(secondsToNanos(maxTtl))}`,
    request_timeout: config.request_timeout_seconds,
    pachd_max_in_flight: config.pachd_max_in_flight ?? DEFAULT_MAX_WRITES_IN_FLIGHT,
    generation: config.generation,
    admin_token_fingerprint: tokenFingerprint(config.admin_token),
    admin_subject: observation?.admin_subject ?? null,
    admin_token_expires_at: observation?.admin_expires_at ?? null,
    pachd_generation: observation?.generation ?? null,
    pachd_version: observation?.pachd_version ?? null,
    can_issue_user_tokens: observation?.can_mint_users ?? null,
    can_issue_robot_tokens: observation?.can_mint_robots ?? null,
    issuance_mode: issuance?.mode ?? null,
    issuance_mode_reason: issuance?.reason ?? 'not verified yet: decided from pachd at the first issuance',
    verified_at: observation?.verified_at ?? null,
    rotation_period: config.rotation_period_seconds ?? 0,
    rotation_schedule: config.rotation_schedule ?? '',
    rotation_window: config.rotation_window_seconds ?? 0,
    disable_automated_rotation: config.disable_automated_rotation ?? false,
    last_rotation: config.rotation?.last_rotation ?? null,
    next_rotation: nextAttempt(config),
    last_rotation_error: config.rotation?.last_error ?? null,
    last_rotation_error_at: config.rotation?.last_error_at ?? null,
    rotation_failures: config.rotation?.failures ?? 0,
    automated_rotation_stopped: config.rotation?.given_up_until !== undefined,
    ...(stopsAt === undefined ? {} : { admin_token_stops_working_at: stopsAt }),
  };
}

/** The fields a config write stores; the path declares them, so its handlers may hand them on. */
type ConfigField =
  | 'pachd_address'
  | 'admin_token'
  | 'ttl'
  | 'max_ttl'
  | 'pachd_tls_ca'
  | 'request_timeout'
  | 'pachd_max_in_flight'
  | 'generation'
  | 'rotation_period'
  | 'rotation_schedule'
  | 'rotation_window'
  | 'disable_automated_rotation';

async function writeConfig(
  engine: Engine,
  request: Request,
  fields: FieldData<ConfigField | 'verify_connection' | typeof DISCARD_ROOT_TOKEN_FIELD>,
): Promise<Response | undefined> {
  // A candidate admin token is checked before it goes anywhere, and kept secret (this mount's
  // redactor) from the moment it arrives: pachd's answers to the calls it makes may quote it.
  return engine.configs.update(request, async (existing, writer) => {
    const next = nextConfig(fields, existing);
    if (fields.has('admin_token')) writer.protect(next.admin_token);
    requireAdminTokenForNewPachd(fields, next, existing);
    const replacesAdminToken = existing !== undefined && existing.admin_token !== next.admin_token;
    if (existing?.admin_token_minted !== undefined && !replacesAdminToken) {
      next.admin_token_minted = existing.admin_token_minted;
    }
    next.rotation = rotationStateAfterWrite(existing, next, replacesAdminToken, new Date());
    const warnings: string[] = [];
    if (fields.bool('verify_connection')) {
      next.observed = await verify(engine, next, existing, request, warnings);
    } else {
      const unchanged =
        existing !== undefined &&
        existing.pachd_address === next.pachd_address &&
        existing.admin_token === next.admin_token &&
        existing.generation === next.generation;
      if (unchanged && existing.observed !== undefined) next.observed = existing.observed;
      else warnings.push('stored without checking pachd (verify_connection=false)');
    }
    const release = replacesAdminToken
      ? await prepareAdminTokenRelease(engine, request, existing, fields.bool(DISCARD_ROOT_TOKEN_FIELD))
      : undefined;
    await writer.save(next);
    if (release !== undefined) warnings.push(...(await release()));
    engine.logger.info('configuration written', {
      pachd_address: next.pachd_address,
      admin_subject: next.observed?.admin_subject,
      admin_token_fingerprint: tokenFingerprint(next.admin_token),
    });
    return warnings.length > 0 ? { warnings } : undefined;
  });
}

/** The stored configuration with the given fields applied, checked for everything pachd need not be asked about. */
function nextConfig(fields: FieldData<ConfigField>, existing: EngineConfig | undefined): EngineConfig {
  const pick = <T>(name: ConfigField, read: () => T, fallback: T): T => (fields.has(name) ? read() : fallback);
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
    pachd_max_in_flight: pick(
      'pachd_max_in_flight',
      () => fields.int('pachd_max_in_flight'),
      existing?.pachd_max_in_flight ?? DEFAULT_MAX_WRITES_IN_FLIGHT,
    ),
    generation: pick(
      'generation',
      () => fields.string('generation') as GenerationSetting,
      existing?.generation ?? 'auto',
    ),
  };

  Object.assign(next, rotationSettings(fields, existing));

  if (next.pachd_address === '') throw badRequest('missing required field "pachd_address"');
  if (next.admin_token === '') throw badRequest('missing required field "admin_token"');
  if (!isSendableToken(next.admin_token)) {
    throw badRequest(
      'admin_token holds characters no pachd token has (whitespace, control or non-ASCII characters, often from a ' +
        'copy-paste); nothing was stored',
    );
  }
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
  if (next.request_timeout_seconds < 1 || next.request_timeout_seconds > MAX_REQUEST_TIMEOUT_SECONDS) {
    throw badRequest(`request_timeout must be between 1s and ${MAX_REQUEST_TIMEOUT_SECONDS}s`);
  }
  const inFlight = next.pachd_max_in_flight ?? DEFAULT_MAX_WRITES_IN_FLIGHT;
  if (inFlight < 0 || inFlight > MAX_WRITES_IN_FLIGHT_LIMIT) {
    throw badRequest(`pachd_max_in_flight must be between 0 (no bound) and ${MAX_WRITES_IN_FLIGHT_LIMIT}`);
  }
  return next;
}

/**
 * The automated rotation settings a write leaves: those it gives, else the stored ones. Setting a
 * period drops a stored schedule (and its window), and the other way round; both in one write is
 * a 400, as in Vault.
 */
function rotationSettings(
  fields: FieldData<ConfigField>,
  existing: EngineConfig | undefined,
): Required<RotationSettings> {
  const givenPeriod = fields.has('rotation_period') ? nanosToSeconds(fields.duration('rotation_period')) : undefined;
  const givenSchedule = fields.has('rotation_schedule') ? fields.string('rotation_schedule').trim() : undefined;
  const givenWindow = fields.has('rotation_window') ? nanosToSeconds(fields.duration('rotation_window')) : undefined;
  if ((givenPeriod ?? 0) > 0 && (givenSchedule ?? '') !== '') {
    throw badRequest('rotation_period and rotation_schedule are mutually exclusive: set one of them');
  }
  let period = givenPeriod ?? existing?.rotation_period_seconds ?? 0;
  let schedule = givenSchedule ?? existing?.rotation_schedule ?? '';
  if ((givenPeriod ?? 0) > 0) schedule = '';
  if ((givenSchedule ?? '') !== '') period = 0;
  const window = givenWindow ?? (schedule === '' ? 0 : (existing?.rotation_window_seconds ?? 0));
  const settings = {
    rotation_period_seconds: period,
    rotation_schedule: schedule,
    rotation_window_seconds: window,
    disable_automated_rotation: fields.has('disable_automated_rotation')
      ? fields.bool('disable_automated_rotation')
      : (existing?.disable_automated_rotation ?? false),
  };
  validateRotationSettings(settings);
  return settings;
}

/**
 * What the engine remembers of its rotations after a write: a new schedule starts from now, and a
 * new schedule or admin token clears the failures of the old one.
 */
function rotationStateAfterWrite(
  existing: EngineConfig | undefined,
  next: EngineConfig,
  replacesAdminToken: boolean,
  now: Date,
): RotationState {
  const state = existing?.rotation ?? {};
  const rescheduled =
    existing === undefined ||
    (existing.rotation_period_seconds ?? 0) !== next.rotation_period_seconds ||
    (existing.rotation_schedule ?? '') !== next.rotation_schedule ||
    (existing.disable_automated_rotation ?? false) !== next.disable_automated_rotation;
  if (!rescheduled && !replacesAdminToken) return state;
  const nextRotation = rescheduled ? nextScheduledRotation(next, now)?.toISOString() : state.next_rotation;
  return {
    ...(state.last_rotation === undefined ? {} : { last_rotation: state.last_rotation }),
    ...(nextRotation === undefined ? {} : { next_rotation: nextRotation }),
    ...(state.last_error === undefined ? {} : { last_error: state.last_error }),
    ...(state.last_error_at === undefined ? {} : { last_error_at: state.last_error_at }),
    failures: 0,
  };
}

/**
 * The admin token is write-only, so it must never follow the configuration somewhere new: a
 * writer who could point the engine at another pachd (or trust another CA for the same address)
 * without also giving the token would collect the stored one at the first call there.
 */
function requireAdminTokenForNewPachd(
  fields: FieldData<'admin_token'>,
  next: EngineConfig,
  existing: EngineConfig | undefined,
): void {
  if (existing === undefined || fields.has('admin_token')) return;
  const moved = !isConfiguredAddress(existing, next.pachd_address);
  const newTrust = next.pachd_tls_ca !== existing.pachd_tls_ca;
  if (!moved && !newTrust) return;
  throw badRequest(
    `changing ${moved ? 'pachd_address' : 'pachd_tls_ca'} needs admin_token in the same write: the stored admin ` +
      'token is never sent to a pachd, or through a TLS trust, it was not written for; nothing was changed',
  );
}

/** Asks pachd what this configuration would get; nothing is stored when it fails. */
async function verify(
  engine: Engine,
  config: EngineConfig,
  existing: EngineConfig | undefined,
  request: Request,
  warnings: string[],
): Promise<PachdObservation> {
  let observed;
  try {
    observed = await observePachd(engine, config, request.deadline);
  } catch (error) {
    // An address new to this engine that does not answer as pachd does is a bad value; the
    // configured pachd failing is an outage.
    const newAddress = existing === undefined || !isConfiguredAddress(existing, config.pachd_address);
    throw vaultErrorFromPachd(error, 'cannot verify the configuration', {
      candidateAdminToken: true,
      candidateAddress: newAddress,
      activationNeededFor: 'configuring this engine',
    });
  }
  const { admin, observation } = observed;
  if (admin.shortfall !== undefined) throw badRequest(`admin_token cannot issue tokens: ${admin.shortfall}`);
  const issuance = issuanceOf(observation);
  if (issuance.mode === 'pachd-generated') warnings.push(issuance.reason);
  if (admin.expiresAt !== null && admin.expiresAt.getTime() - Date.now() < EXPIRY_WARNING_MS) {
    warnings.push(
      `the admin token expires at ${admin.expiresAt.toISOString()}; rotate it with <mount>/config/rotate-root or ` +
        `write a new one`,
    );
  }
  return observation;
}
