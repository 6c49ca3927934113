/**
 * @file
 * Replacing the admin token with a fresh one for the same subject, then revoking the old one,
 * journaled so that a crash at any step is finished or undone at the next rollback tick, or by
 * the next rotate-root (admin-rotation-rollback.ts). It runs as one of the configuration's writers (config.ts), so
 * two rotations, or a rotation and a config write, never interleave.
 *
 * How the new token comes to be, best first: 2.x `pach:root` with RotateRootToken, and any
 * subject with RestoreAuthToken where the admin token may restore; in both the engine picks the
 * value and journals it before pachd sees it. Otherwise pachd generates it (GetRobotToken,
 * GetAuthToken) and it is journaled as soon as pachd answers.
 */

import { ceilSeconds, type Nanoseconds } from '../../sdk/duration';
import { badRequest, codedError } from '../../sdk/errors';
import type { Request, Response } from '../../sdk/logical';
import { deleteWal, putWal, updateWal } from '../../sdk/wal';
import type { ConfigWriter, EngineConfig } from '../mount/config';
import { rotationSucceeded } from '../mount/rotation-schedule';
import type { Engine } from '../mount/engine';
import {
  PACHD_V1_MAX_TTL_SECONDS,
  type AdminIdentity,
  type MintedToken,
  type PachdAuthApi,
  type PachdGeneration,
  type RevokeOutcome,
} from '../pachd/auth-api';
import { PachdError, tokenIsGone } from '../pachd/errors';
import { generatePachdToken, tokenFingerprint } from '../pachd/token-material';
import type { TokenHome } from '../mount/pachd-clients';
import { configuredHome } from '../mount/token-home';
import { vaultErrorFromPachd } from '../mount/upstream-errors';

export const ADMIN_ROTATION_WAL = 'admin-rotation';

export interface AdminRotationWal extends TokenHome {
  /**
   * `minting`: the new token may not exist at pachd yet, and the configuration holds the old
   * one. `revoking-old`: the new token exists; the configuration is switched to it (or about to
   * be) and the old token is to be revoked.
   */
  stage: 'minting' | 'revoking-old';
  subject: string;
  old_token: string;
  new_token?: string;
  /**
   * ISO time after which pachd no longer applies the minting call: its deadline plus a margin
   * (`LANDING_MARGIN_CALLS`). Absent in entries written before it existed.
   */
  lands_by?: string;
}

/**
 * How long past its deadline a minting call is still taken to possibly land, in call timeouts.
 * pachd stops a call at its deadline (the gRPC deadline travels with the call and cancels the
 * handler's context); what may still finish is a commit already under way, well within one
 * timeout. The WAL's own grace makes the same assumption, with a factor of two on the budget.
 */
const LANDING_MARGIN_CALLS = 1;
/** The minting call, with its wait for a turn at the pachd's write bound, gets this many call timeouts. */
const MINT_WINDOW_CALLS = 2;

type RotationMethod = 'rotate-root' | 'restore' | 'pachd-generated';

/** Lifetime of a new admin token when the old one expires and no ttl is given: pachd 1.x's longest. */
const DEFAULT_EXPIRING_LIFETIME_SECONDS = PACHD_V1_MAX_TTL_SECONDS;
/** Shorter, and the engine would lose its credential soon after rotating it. */
const MIN_ADMIN_LIFETIME_SECONDS = 600;

/**
 * Rotates `config`'s admin token, run by a writer of the configuration (`configs.update`) that
 * holds `config` as stored: rotate-root and the scheduled rotation (rotation-scheduler.ts) alike.
 */
export async function rotateAdminTokenAsWriter(
  engine: Engine,
  request: Request,
  config: EngineConfig,
  writer: ConfigWriter,
  requestedTtl: Nanoseconds | undefined,
): Promise<Response> {
  const failed = (error: unknown) => vaultErrorFromPachd(error, 'cannot rotate the admin token');
  const authApi = await engine.pachd.configuredAuthApi(config, request.deadline).catch((error: unknown) => {
    throw failed(error);
  });
  const identity = await authApi.verifyAdmin(config.admin_token).catch((error: unknown) => {
    throw failed(error);
  });
  const method = rotationMethod(authApi.generation, identity);
  const warnings: string[] = [];
  if (method === 'rotate-root' && requestedTtl !== undefined && requestedTtl > 0n) {
    warnings.push('ttl is ignored: pachd 2.x root tokens never expire (RotateRootToken takes no lifetime)');
  }
  const lifetime =
    method === 'rotate-root' ? null : newLifetime(requestedTtl, identity, authApi.generation, method, warnings);

  const home = await configuredHome(engine, request.storage, config, {
    generation: authApi.generation,
    pachd_address: authApi.connection.address.canonical,
  });
  // The minting call gets a deadline of its own, journaled: until it has passed (with a margin)
  // pachd may still apply the call, even after this process is gone, and an interrupted rotation
  // cannot be settled by asking pachd (admin-rotation-rollback.ts); after it, it can.
  const timeoutMs = authApi.connection.timeoutMs;
  const mintDeadline = Math.min(authApi.connection.deadline, Date.now() + MINT_WINDOW_CALLS * timeoutMs);
  const mintApi = await engine.pachd.configuredAuthApi(config, mintDeadline).catch((error: unknown) => {
    throw failed(error);
  });
  const journal: AdminRotationWal = {
    stage: 'minting',
    subject: identity.subject,
    ...home,
    old_token: config.admin_token,
    ...(method === 'pachd-generated' ? {} : { new_token: generatePachdToken() }),
    lands_by: new Date(mintDeadline + LANDING_MARGIN_CALLS * timeoutMs).toISOString(),
  };
  if (journal.new_token !== undefined) writer.protect(journal.new_token);
  let wal = await putWal(request.storage, ADMIN_ROTATION_WAL, journal);

  let minted: MintedToken;
  try {
    minted = await mintAdmin(mintApi, method, journal, lifetime);
  } catch (error) {
    if (!(error instanceof PachdError) || !error.mayHaveApplied)
      await deleteWal(request.storage, wal.id).catch(() => undefined);
    throw failed(error);
  }
  writer.protect(minted.token);

  let expiresAt: Date | null = null;
  if (method === 'rotate-root') {
    // pachd swapped the root token in one transaction: the old one is already gone, so the new
    // one is stored before anything else can fail (revoking it would leave pach:root without a
    // token, and keeping the old one would leave the engine with a dead credential).
    await writer.save(rotatedConfig(config, minted, null, authApi.generation));
    journal.stage = 'revoking-old';
    wal = await updateWal(request.storage, wal, journal);
  } else {
    if (journal.new_token === undefined) {
      journal.new_token = minted.token;
      wal = await updateWal(request.storage, wal, journal).catch(async (error: unknown) => {
        await authApi.revoke(config.admin_token, minted.token).catch(() => undefined);
        throw error;
      });
    }
    expiresAt = await confirmNewToken(authApi, journal, minted, lifetime).catch((error: unknown) => {
      throw failed(error);
    });
    // The journal says the old token is on its way out before the configuration lets it go: a
    // crash in between must not leave the old token working once the configuration has moved on.
    journal.stage = 'revoking-old';
    wal = await updateWal(request.storage, wal, journal);
    await writer.save(rotatedConfig(config, minted, expiresAt, authApi.generation));
  }
  let retired = false;
  try {
    await retireOldToken(authApi, journal);
    retired = true;
  } catch (error) {
    warnings.push(
      `the new admin token is stored, but revoking the old one failed (${(error as Error).message}); ` +
        'the rollback tick keeps trying',
    );
  }
  if (retired) {
    await deleteWal(request.storage, wal.id).catch((error: unknown) => {
      warnings.push(
        `the rotation is complete, but its journal entry stays (${(error as Error).message}); the rollback tick ` +
          `removes it`,
      );
    });
  }
  engine.logger.info('admin token rotated', {
    admin_subject: minted.subject,
    method,
    old_fingerprint: tokenFingerprint(config.admin_token),
    new_fingerprint: tokenFingerprint(minted.token),
  });
  return {
    data: {
      admin_subject: minted.subject,
      admin_token_fingerprint: tokenFingerprint(minted.token),
      admin_token_expires_at: expiresAt?.toISOString() ?? null,
      rotation_method: method,
    },
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/**
 * The new token's lifetime: what was asked, else as the old one. Never expiring stays never
 * expiring only where the engine picks the value (it is journaled before pachd has it): a token
 * pachd generates could be orphaned by a crash before it is journaled, so it always expires.
 */
function newLifetime(
  requestedTtl: Nanoseconds | undefined,
  identity: AdminIdentity,
  generation: PachdGeneration,
  method: RotationMethod,
  warnings: string[],
): number | null {
  let lifetime: number | null;
  if (requestedTtl !== undefined && requestedTtl > 0n) {
    lifetime = ceilSeconds(requestedTtl);
    if (lifetime < MIN_ADMIN_LIFETIME_SECONDS) {
      throw badRequest(
        `an admin token must live at least ${MIN_ADMIN_LIFETIME_SECONDS / 60} minutes; every issuance needs it`,
      );
    }
  } else if (identity.expiresAt === null && method === 'pachd-generated') {
    lifetime = DEFAULT_EXPIRING_LIFETIME_SECONDS;
    warnings.push(
      'the new admin token expires in 30 days although the old one never did: pachd picks its value here, and a ' +
        'credential nobody could name must not outlive a crash forever. Rotate again before then',
    );
  } else {
    lifetime = identity.expiresAt === null ? null : DEFAULT_EXPIRING_LIFETIME_SECONDS;
  }
  if (lifetime !== null && generation === 1 && lifetime > PACHD_V1_MAX_TTL_SECONDS) {
    throw badRequest('pachd 1.x issues tokens for at most 30 days');
  }
  return lifetime;
}

function rotationMethod(generation: PachdGeneration, identity: AdminIdentity): RotationMethod {
  if (generation === 2 && identity.subject === 'pach:root') return 'rotate-root';
  if (identity.canRestore) return 'restore';
  if (generation === 2 && identity.subject.startsWith('robot:') && identity.canGenerate.robots)
    return 'pachd-generated';
  if (generation === 1 && !identity.subject.startsWith('pach:')) return 'pachd-generated';
  if (generation === 1) {
    throw badRequest(
      `pachd 1.x before 1.11.9 cannot issue tokens for ${identity.subject}; to rotate the admin credential, give a ` +
        'dedicated subject (for example robot:vault) the cluster role SUPER and configure its token instead',
    );
  }
  throw badRequest(
    `cannot rotate the admin token of ${identity.subject}: that needs CLUSTER_AUTH_RESTORE_TOKEN (clusterAdmin), or ` +
      `a ` +
      'robot subject with CLUSTER_AUTH_GET_ROBOT_TOKEN',
  );
}

async function mintAdmin(
  authApi: PachdAuthApi,
  method: RotationMethod,
  journal: AdminRotationWal,
  lifetime: number | null,
): Promise<MintedToken> {
  if (method === 'pachd-generated') return authApi.generate(journal.old_token, journal.subject, lifetime);
  const value = journal.new_token;
  if (value === undefined) throw new Error(`a ${method} rotation needs its value journaled first`);
  if (method === 'rotate-root') {
    await authApi.rotateRoot(journal.old_token, value);
    return { token: value, subject: journal.subject, expiresAt: null };
  }
  const expiresAt = lifetime === null ? null : new Date(Date.now() + lifetime * 1000);
  await authApi.restore(journal.old_token, { value, subject: journal.subject, expiresAt });
  return { token: value, subject: journal.subject, expiresAt };
}

/**
 * The new token works as the same subject, with an expiry when one was asked for (pachd stores
 * none for less than a second left, which a clock far ahead of ours could cause): pachd's own
 * word, before it replaces the one that works now. Anything else undoes the new token.
 */
async function confirmNewToken(
  authApi: PachdAuthApi,
  journal: AdminRotationWal,
  minted: MintedToken,
  lifetime: number | null,
): Promise<Date | null> {
  const identity = await authApi.identify(minted.token);
  if (identity.subject === journal.subject && (lifetime === null || identity.expiresAt !== null))
    return identity.expiresAt;
  await authApi.revoke(journal.old_token, minted.token);
  throw codedError(
    502,
    `pachd answered the rotation with a token for ${identity.subject}, expiring ` +
      `${identity.expiresAt?.toISOString() ?? 'never'}; ` +
      `expected ${journal.subject}${lifetime === null ? '' : ` expiring in ${lifetime}s`}; the new token was ` +
      `revoked again`,
  );
}

export function rotatedConfig(
  config: EngineConfig,
  minted: MintedToken,
  expiresAt: Date | null,
  generation: PachdGeneration,
): EngineConfig {
  const now = new Date();
  return {
    ...config,
    admin_token: minted.token,
    admin_token_minted: { subject: minted.subject, generation, minted_at: now.toISOString() },
    // Every rotation counts, whoever asked for it: an operator's clears the failures of scheduled ones.
    rotation: rotationSucceeded(config, config.rotation ?? {}, now),
    ...(config.observed === undefined
      ? {}
      : {
          observed: {
            ...config.observed,
            admin_subject: minted.subject,
            admin_expires_at: expiresAt?.toISOString() ?? null,
            verified_at: new Date().toISOString(),
          },
        }),
  };
}

/**
 * Makes sure the old token no longer works: RotateRootToken already removed it; otherwise it is
 * revoked, as the new token, or as itself if the new one has stopped working meanwhile.
 */
export async function retireOldToken(authApi: PachdAuthApi, journal: AdminRotationWal): Promise<RevokeOutcome> {
  if (journal.generation === 2 && journal.subject === 'pach:root') return 'absent';
  const caller = journal.new_token;
  if (caller !== undefined) {
    try {
      return await authApi.revoke(caller, journal.old_token);
    } catch (error) {
      if (!tokenIsGone(error)) throw error;
    }
  }
  return authApi.revokeAsItself(journal.old_token);
}
