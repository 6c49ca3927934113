import { badRequest } from '../sdk/errors';
import { definePath, type Path } from '../sdk/path';
import type { Storage } from '../sdk/storage';
import type { Engine } from './mount/engine';
import { MAX_ROLE_NAME_LENGTH, ROLE_NAME_PATTERN } from './roles/role';
import { loadStaticRole } from './roles/static-role';
import { OVERDUE_TTL_SECONDS } from './static-robots/static-lifetime';

/** Where a static-creds answer carries the token: a name no log line may show a value under. */
export const STATIC_TOKEN_FIELD = 'token';

/**
 * A static robot's current token, without a lease: `vault read pachyderm/static-creds/loader`.
 * The answer carries `rotation_period` and `ttl` (seconds until the next rotation), the two fields
 * consul-template (Vault Agent, Nomad) reads to re-render a lease-less secret right after it
 * rotates.
 */
export function staticCredsPath(engine: Engine): Path {
  return definePath({
    pattern: `static-creds/(?<name>${ROLE_NAME_PATTERN})`,
    helpSynopsis: "Read a static robot's current pachd token.",
    helpDescription: `
Returns the static role's current token, the robot it belongs to, the pachd address (and CA
certificates, when configured) to use it with, when it was made and when it will be replaced.
There is no lease: the token lives until the engine rotates it (plus the role's rotation_grace).
ttl is the number of seconds until the next rotation; read again after it. Once a rotation is due
and not yet done, ttl is ${OVERDUE_TTL_SECONDS}. Vault Agent and Nomad templates re-read this
secret on their own after ttl, because the answer carries rotation_period and ttl.`,
    fields: {
      name: { type: 'string', description: 'Name of the static role.', maxLength: MAX_ROLE_NAME_LENGTH, in: 'path' },
    },
    operations: {
      read: {
        summary: "Read a static robot's current token.",
        handler: async (request, fields) => {
          const name = fields.string('name');
          const role = await loadStaticRole(request.storage, name);
          if (role === undefined) return undefined;
          if (role.deleting === true) throw badRequest(`the static role ${name} is being deleted`);
          const current = role.current;
          if (current === undefined) {
            throw badRequest(
              `the static role ${name} has no token yet (last error: ${role.rotation?.last_error ?? 'none'}); ` +
                `write rotate-role/${name} to try again`,
            );
          }
          const state = role.rotation ?? {};
          const now = Date.now();
          const nextText = state.retry_at ?? state.next_rotation;
          const next = nextText === undefined ? now : Date.parse(nextText);
          const ttl = next > now ? Math.ceil((next - now) / 1000) : OVERDUE_TTL_SECONDS;
          const warnings: string[] = [];
          const tlsCa = await tlsCaOf(engine, request.storage, current.pachd_tls_ca_sha256, warnings);
          if (current.expires_at !== null && Date.parse(current.expires_at) <= now) {
            warnings.push(
              `this token expired at pachd at ${current.expires_at}: rotations have been failing ` +
                `(${state.last_error ?? 'no error recorded'}); write rotate-role/${name}`,
            );
          }
          return {
            data: {
              [STATIC_TOKEN_FIELD]: current.token,
              subject: role.subject,
              pachd_address: current.pachd_address,
              pachd_tls_ca: tlsCa,
              last_rotation: state.last_rotation ?? current.issued_at,
              next_rotation: nextText ?? null,
              ttl,
              rotation_period: role.rotation_period_seconds ?? 0,
              rotation_schedule: role.rotation_schedule ?? '',
              rotation_window: role.rotation_window_seconds ?? 0,
              rotation_grace: role.rotation_grace_seconds,
              token_expires_at: current.expires_at,
            },
            ...(warnings.length > 0 ? { warnings } : {}),
          };
        },
      },
    },
  });
}

/**
 * The CA certificates the token's pachd was dialled with. Their copies are local storage, and a
 * performance secondary serves a role its primary rotated without them: the configuration, which
 * is replicated, has the same certificates when its reference matches.
 */
async function tlsCaOf(
  engine: Engine,
  storage: Storage,
  reference: string | undefined,
  warnings: string[],
): Promise<string> {
  if (reference === undefined || reference === '') return '';
  const copy = await engine.tlsCas.fetch(storage, reference);
  if (copy !== undefined) return copy;
  const configured = (await engine.configs.load(storage))?.pachd_tls_ca ?? '';
  if (configured !== '' && engine.tlsCas.referenceOf(configured) === reference) return configured;
  warnings.push(
    "the CA certificates this token's pachd was dialled with are not stored on this cluster, and the " +
      'configuration has others: pachd_tls_ca is empty; read static-creds from the cluster that rotated it',
  );
  return '';
}
