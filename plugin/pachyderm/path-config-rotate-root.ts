import { badRequest } from '../sdk/errors';
import type { FieldData } from '../sdk/fields';
import type { PathDefinition } from '../sdk/framework';
import type { Request, Response } from '../sdk/logical';
import { deleteWal, putWal, updateWal } from '../sdk/wal';
import type { EngineConfig } from './config';
import type { Engine } from './engine';
import { ceilSeconds } from './lease-ttl';
import { PACHD_V1_MAX_TTL_SECONDS, type PachdAuthority, type PachdGeneration } from './pachd/authority';
import { PachdError } from './pachd/errors';
import { tokenFingerprint } from './pachd/token';
import { vaultErrorFromPachd } from './upstream-errors';
import { authorityFor } from './secret-token';

/**
 * Replaces the admin token with a fresh one for the same subject, then revokes the old one.
 *
 * 2.x `pach:root` goes through RotateRootToken with a value chosen here; other subjects get a
 * new token minted with the current one. Each step is journaled: if the process dies after
 * pachd changed but before the new token was stored, the rollback tick finds the journal and
 * either stores the new token (when the old one no longer works) or revokes it.
 */
export const ADMIN_ROTATION_WAL = 'admin-rotation';

export interface AdminRotationWal {
  stage: 'minting' | 'revoking-old';
  subject: string;
  generation: PachdGeneration;
  pachd_address: string;
  old_token: string;
  new_token?: string;
}

const DEFAULT_EXPIRING_LIFETIME_SECONDS = PACHD_V1_MAX_TTL_SECONDS;

export function rotateRootPath(engine: Engine): PathDefinition {
  return {
    pattern: 'config/rotate-root',
    helpSynopsis: 'Replace the admin token with a new one for the same pachd subject and revoke the old one.',
    helpDescription: `
The new token never expires when the old one did not (1.x: pachd 1.11 or newer); otherwise it
lives for ttl (default 30 days). On pachd 2.x the root user (pach:root) is rotated with
RotateRootToken, which pachd refuses when its root token comes from its environment. pachd 1.x
cannot mint tokens for pach:root: configure a dedicated admin (for example robot:vault with the
SUPER cluster role) to be able to rotate.`,
    fields: {
      ttl: { type: 'duration', description: 'Lifetime of the new admin token when the current one expires.' },
    },
    operations: {
      update: { summary: 'Rotate the admin token.', handler: (request, fields) => rotateRoot(engine, request, fields) },
    },
  };
}

async function rotateRoot(engine: Engine, request: Request, fields: FieldData): Promise<Response> {
  const config = await engine.configs.require(request.storage);
  const authority = await engine.pachd.configuredAuthority(config).catch((error: unknown) => {
    throw vaultErrorFromPachd(error, 'cannot rotate the admin token');
  });
  const identity = await authority.verifyAdmin(config.admin_token).catch((error: unknown) => {
    throw vaultErrorFromPachd(error, 'cannot rotate the admin token');
  });

  let lifetime: number | null = null;
  if (fields.has('ttl')) lifetime = ceilSeconds(fields.duration('ttl'));
  else if (identity.expiresAt !== null) lifetime = DEFAULT_EXPIRING_LIFETIME_SECONDS;
  if (lifetime !== null && authority.generation === 1 && lifetime > PACHD_V1_MAX_TTL_SECONDS) {
    throw badRequest('pachd 1.x issues tokens for at most 30 days');
  }

  const journal: AdminRotationWal = {
    stage: 'minting',
    subject: identity.subject,
    generation: authority.generation,
    pachd_address: authority.connection.address.canonical,
    old_token: config.admin_token,
  };
  let wal = await putWal(request.storage, ADMIN_ROTATION_WAL, journal);
  let minted;
  try {
    minted = await authority.rotateAdmin(config.admin_token, identity, lifetime, async (prepared) => {
      // The value exists before pachd installs it: journal it first (roll-forward needs it).
      journal.new_token = prepared;
      wal = await updateWal(request.storage, wal, journal);
    });
  } catch (error) {
    if (journal.new_token === undefined) await deleteWal(request.storage, wal.id).catch(() => undefined);
    throw vaultErrorFromPachd(error, 'cannot rotate the admin token');
  }
  journal.new_token = minted.token;
  wal = await updateWal(request.storage, wal, journal);

  const next: EngineConfig = {
    ...config,
    admin_token: minted.token,
    ...(config.observed === undefined
      ? {}
      : {
          observed: {
            ...config.observed,
            admin_subject: minted.subject,
            admin_expires_at: minted.expiresAt?.toISOString() ?? null,
            verified_at: new Date().toISOString(),
          },
        }),
  };
  await engine.configs.save(request.storage, next);
  journal.stage = 'revoking-old';
  wal = await updateWal(request.storage, wal, journal);

  const warnings: string[] = [];
  try {
    await revokeOld(authority, journal);
    await deleteWal(request.storage, wal.id);
  } catch (error) {
    warnings.push(
      `the new admin token is stored, but revoking the old one failed (${(error as Error).message}); ` +
        'the rollback tick keeps trying',
    );
  }
  engine.logger.info('admin token rotated', {
    admin_subject: minted.subject,
    old_fingerprint: tokenFingerprint(config.admin_token),
    new_fingerprint: tokenFingerprint(minted.token),
  });
  return {
    data: {
      admin_subject: minted.subject,
      admin_token_fingerprint: tokenFingerprint(minted.token),
      admin_token_expires_at: minted.expiresAt?.toISOString() ?? null,
    },
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** The old token stops working: RotateRootToken already removed it, otherwise revoke it. */
async function revokeOld(authority: PachdAuthority, journal: AdminRotationWal): Promise<void> {
  if (journal.generation === 2 && journal.subject === 'pach:root') return;
  if (journal.new_token === undefined) return;
  await authority.revoke(journal.new_token, journal.old_token);
}

/** Finishes or undoes a rotation the process did not live to complete. */
export async function rollBackAdminRotation(engine: Engine, request: Request, journal: AdminRotationWal): Promise<void> {
  const config = await engine.configs.load(request.storage);
  const authority = authorityFor(engine, config, journal);
  if (journal.new_token === undefined) {
    engine.logger.warn('an admin token rotation was interrupted before pachd answered', { subject: journal.subject });
    return;
  }
  if (config?.admin_token === journal.new_token || journal.stage === 'revoking-old') {
    await revokeOld(authority, journal);
    return;
  }
  const works = async (token: string) =>
    authority.identify(token).then(
      () => true,
      (error: unknown) => {
        if (error instanceof PachdError && (error.failure === 'unauthenticated' || error.failure === 'token-not-found')) {
          return false;
        }
        throw error;
      },
    );
  if (!(await works(journal.new_token))) return;
  if (config !== undefined && (await works(config.admin_token))) {
    // The old credential still works: undo the half-done rotation.
    await authority.revoke(config.admin_token, journal.new_token);
    engine.logger.warn('revoked the admin token of an interrupted rotation', { subject: journal.subject });
    return;
  }
  if (config !== undefined) {
    await engine.configs.save(request.storage, { ...config, admin_token: journal.new_token });
    engine.logger.warn('completed an interrupted admin token rotation: stored the new token', { subject: journal.subject });
  }
}
