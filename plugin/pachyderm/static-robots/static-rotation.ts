/**
 * @file
 * Rotating a static robot's token: the new token is made, journaled before pachd sees it where
 * the engine picks its value (RestoreAuthToken) and as soon as pachd answers where pachd picks it
 * (GetRobotToken, GetAuthToken); it is stored as the role's current token, the journal entry is
 * dropped, and only then is the old token retired: at once, or after the role's rotation_grace
 * (static-retirement.ts). A crash anywhere leaves either the old token current and the new one in
 * the journal, which the rollback revokes, or the new one current and the old one recorded as
 * retiring, which the next tick revokes. Callers hold the engine's static-role lock.
 */

import type { Request } from '../../sdk/logical';
import { badRequest } from '../../sdk/errors';
import { deleteWal, putWal, updateWal, type WalEntry } from '../../sdk/wal';
import type { EngineConfig, PachdObservation } from '../mount/config';
import type { Engine } from '../mount/engine';
import type { TokenHome } from '../mount/pachd-clients';
import { observationFor } from '../mount/pachd-observation';
import { rotationSucceeded } from '../mount/rotation-schedule';
import { configuredHome } from '../mount/token-home';
import { pastPachdExpiry, revokeAtHome } from '../mount/token-revocation';
import { vaultErrorFromPachd } from '../mount/upstream-errors';
import { walKind, type WalKind } from '../mount/wal-rollback';
import { issuanceOf } from '../issuance/issuance-mode';
import type { MintedToken, PachdAuthApi } from '../pachd/auth-api';
import { PachdError } from '../pachd/errors';
import { PachdRelease } from '../pachd/release';
import { generatePachdToken, tokenFingerprint } from '../pachd/token-material';
import {
  loadStaticRole,
  saveStaticRole,
  type RetiringToken,
  type StaticToken,
  type StoredStaticRole,
} from '../roles/static-role';
import { grantStaticBindings } from './static-bindings';
import { staticTokenLifetimeSeconds } from './static-lifetime';
import { retireDueTokens } from './static-retirement';

export const STATIC_ROTATION_WAL = 'static-rotation';

/** A rotation in progress: the new token's value once known (before pachd sees it when the engine picks it). */
export interface StaticRotationWal extends TokenHome {
  role: string;
  role_id: string;
  subject: string;
  expires_at: string;
  token?: string;
}

/**
 * Why this engine cannot make tokens for a static robot on this pachd, or undefined when it can:
 * 2.x needs clusterAdmin (RestoreAuthToken) or CLUSTER_AUTH_GET_ROBOT_TOKEN; 1.x an admin token
 * (GetAuthToken for any subject, RestoreAuthToken from 1.11.9).
 */
export function staticMintingShortfall(observation: PachdObservation): string | undefined {
  if (observation.can_mint_robots) return undefined;
  return observation.generation === 1
    ? `the engine's admin token (${observation.admin_subject}) is not a pachd 1.x admin, and only admins get ` +
        'tokens for another subject (GetAuthToken)'
    : `the engine's admin token (${observation.admin_subject}) holds neither clusterAdmin ` +
        '(CLUSTER_AUTH_RESTORE_TOKEN) nor CLUSTER_AUTH_GET_ROBOT_TOKEN, so it cannot make robot tokens';
}

/**
 * Replaces the role's token (or makes its first), re-granting its bindings first; returns the
 * role as stored afterwards. Throws, with nothing left alive that neither the role nor the
 * journal names, when pachd refuses or cannot be reached.
 */
export async function rotateStaticRole(
  engine: Engine,
  request: Request,
  name: string,
  role: StoredStaticRole,
  now: Date = new Date(),
): Promise<StoredStaticRole> {
  const config = await engine.configs.require(request.storage);
  const failed = (error: unknown) => vaultErrorFromPachd(error, `cannot rotate the token of ${role.subject}`);
  const authApi = await engine.pachd.configuredAuthApi(config, request.deadline).catch((error: unknown) => {
    throw failed(error);
  });
  const observation = await observationFor(engine, config, request.deadline).catch((error: unknown) => {
    throw failed(error);
  });
  const shortfall = staticMintingShortfall(observation);
  if (shortfall !== undefined) throw badRequest(`cannot rotate the token of ${role.subject}: ${shortfall}`);
  const release = PachdRelease.parse(observation.pachd_version);
  const restores = issuanceOf(observation).mode === 'restore';
  const lifetime = staticTokenLifetimeSeconds(role, role.rotation_grace_seconds, now, authApi.generation);
  const home = await configuredHome(engine, request.storage, config, {
    generation: authApi.generation,
    pachd_address: authApi.connection.address.canonical,
  });
  const journal: StaticRotationWal = {
    role: name,
    role_id: role.id,
    subject: role.subject,
    ...home,
    expires_at: new Date(now.getTime() + lifetime * 1000).toISOString(),
    ...(restores ? { token: generatePachdToken() } : {}),
  };
  let wal = await putWal(request.storage, STATIC_ROTATION_WAL, journal);

  let minted: MintedToken;
  try {
    await grantStaticBindings(authApi, config, release, role.subject, role.role_bindings);
    minted = await mint(authApi, config, journal, lifetime);
  } catch (error) {
    // A refusal leaves nothing at pachd; a call that may have gone through keeps its entry for the rollback.
    if (!(error instanceof PachdError) || !error.mayHaveApplied) {
      await deleteWal(request.storage, wal.id).catch(() => undefined);
    }
    throw failed(error);
  }
  if (journal.token === undefined) {
    journal.token = minted.token;
    wal = await updateWal(request.storage, wal, journal).catch(async (error: unknown) => {
      await authApi.revoke(config.admin_token, minted.token).catch(() => undefined);
      throw error;
    });
  }

  const stored = rotatedRole(role, { token: minted.token, ...home, expires_at: journal.expires_at }, now);
  await saveStaticRole(request.storage, name, stored);
  // The role names the new token now: a journal entry left behind is dropped by the rollback.
  await deleteWal(request.storage, wal.id).catch((error: unknown) => {
    engine.logger.warn('a static rotation is stored, but its journal entry stays; the rollback tick drops it', {
      role: name,
      error: (error as Error).message,
    });
  });
  engine.logger.info('static robot token rotated', {
    role: name,
    subject: role.subject,
    fingerprint: tokenFingerprint(minted.token),
    token_expires_at: journal.expires_at,
    next_rotation: stored.rotation?.next_rotation,
    issuance: restores ? 'restore' : 'pachd-generated',
  });
  return retireDueTokens(engine, request, name, stored, now);
}

async function mint(
  authApi: PachdAuthApi,
  config: EngineConfig,
  journal: StaticRotationWal,
  lifetime: number,
): Promise<MintedToken> {
  if (journal.token === undefined) return authApi.generate(config.admin_token, journal.subject, lifetime);
  const expiresAt = new Date(journal.expires_at);
  await authApi.restore(config.admin_token, { value: journal.token, subject: journal.subject, expiresAt });
  return { token: journal.token, subject: journal.subject, expiresAt };
}

/**
 * The role once `fresh` is its token: the one it replaces retires after the grace, and any still
 * in an earlier grace retires at once (more than two alive would outrun what a consumer needs).
 */
function rotatedRole(role: StoredStaticRole, fresh: StaticToken, now: Date): StoredStaticRole {
  const graceEnds = new Date(now.getTime() + role.rotation_grace_seconds * 1000).toISOString();
  const retiring: RetiringToken[] = (role.retiring ?? []).map((token) => ({
    ...token,
    revoke_at: Date.parse(token.revoke_at) < now.getTime() ? token.revoke_at : now.toISOString(),
  }));
  if (role.current !== undefined) {
    const { issued_at: _issued, ...replaced } = role.current;
    retiring.push({ ...replaced, revoke_at: graceEnds });
  }
  const { given_up_until: _given, retry_at: _retry, ...state } = role.rotation ?? {};
  // The rotation granted the role's bindings before it made the token.
  const { grant_pending: _granted, ...rest } = role;
  return {
    ...rest,
    current: { ...fresh, issued_at: now.toISOString() },
    retiring,
    rotation: rotationSucceeded(role, state, now),
  };
}

/** The rollback of a rotation the process did not live to finish. */
export const staticRotationRollback: WalKind = walKind(STATIC_ROTATION_WAL, (engine, request, entry) =>
  engine.staticRoles.run(() => rollBackRotation(engine, request, entry as WalEntry<StaticRotationWal>)),
);

async function rollBackRotation(engine: Engine, request: Request, entry: WalEntry<StaticRotationWal>): Promise<void> {
  const pending = entry.data;
  const log = { role: pending.role, subject: pending.subject, wal_id: entry.id };
  const role = await loadStaticRole(request.storage, pending.role);
  const token = pending.token;
  if (token === undefined) {
    engine.logger.warn(
      'a static rotation was interrupted before pachd answered, and pachd picks token values here: if it made one, ' +
        'nobody holds it and it lives until its pachd expiry',
      { ...log, expires_at: pending.expires_at },
    );
    return;
  }
  const fingerprint = tokenFingerprint(token);
  if (role !== undefined && role.id === pending.role_id && heldBy(role, token)) {
    engine.logger.debug('a static rotation was stored before its journal entry was dropped', { ...log, fingerprint });
    return;
  }
  if (pastPachdExpiry(pending.expires_at)) return;
  const config = await engine.configs.load(request.storage);
  const outcome = await revokeAtHome(engine, request.storage, config, pending, token, request.deadline);
  engine.logger.warn('revoked the token of an interrupted static rotation', { ...log, fingerprint, outcome });
}

function heldBy(role: StoredStaticRole, token: string): boolean {
  return role.current?.token === token || (role.retiring ?? []).some((retiring) => retiring.token === token);
}
