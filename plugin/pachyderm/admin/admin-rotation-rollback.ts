/**
 * @file
 * Settling admin token rotations (admin-rotation.ts) the process did not live to complete: its
 * journal entry says how far it got, pachd says which of its two tokens still work, and the
 * configuration says which one the engine holds (interrupted-rotation.ts decides). Run at every
 * rollback tick and before every rotation, so a crash is settled at the next tick rather than
 * when the entry is ten minutes old; the WAL rollback settles what is left then.
 */

import { codedError, type VaultError } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import { deleteWal, getWal, listWal, type WalEntry } from '../../sdk/wal';
import type { ConfigWriter, EngineConfig } from '../mount/config';
import type { Engine } from '../mount/engine';
import { ADMIN_ROTATION_WAL, retireOldToken, rotatedConfig, type AdminRotationWal } from './admin-rotation';
import {
  decideInterruptedRotation,
  nextQuestion,
  type InterruptedRotationFacts,
  type InterruptedRotationStep,
} from './interrupted-rotation';
import type { PachdAuthApi } from '../pachd/auth-api';
import { tokenIsGone } from '../pachd/errors';
import { tokenFingerprint } from '../pachd/token-material';
import { authApiAtHome, isConfiguredHome } from '../mount/token-home';
import { walKind, WAL_ROLLBACK_MIN_AGE_MS, type WalKind } from '../mount/wal-rollback';

/** Whether a token authenticates at pachd; throws when pachd cannot tell (unreachable). */
async function works(authApi: PachdAuthApi, token: string): Promise<boolean> {
  try {
    await authApi.identify(token);
    return true;
  } catch (error) {
    if (tokenIsGone(error)) return false;
    throw error;
  }
}

/**
 * Until when the entry's minting call may reach pachd (ms since the epoch). Entries written
 * before the journal carried it are given the WAL's own grace.
 */
export function landsBy(entry: WalEntry<AdminRotationWal>): number {
  const recorded = entry.data.lands_by === undefined ? Number.NaN : Date.parse(entry.data.lands_by);
  return Number.isFinite(recorded) ? recorded : entry.createdAt + WAL_ROLLBACK_MIN_AGE_MS;
}

/** What settling left: the configuration as stored now, and when an entry that had to wait may be settled. */
export interface SettledRotations {
  config: EngineConfig | undefined;
  /** ms since the epoch; undefined when nothing waits. */
  waitUntil?: number;
}

/**
 * Settles every interrupted admin token rotation it can, as the writer holding `config`. An entry
 * pachd cannot answer for yet (its minting call may still land) stays, and `waitUntil` says until
 * when; the caller starts no rotation meanwhile. Throws when pachd cannot be asked.
 */
export async function settleInterruptedRotations(
  engine: Engine,
  request: Request,
  config: EngineConfig | undefined,
  writer: ConfigWriter,
  now: () => number = Date.now,
): Promise<SettledRotations> {
  let current = config;
  let waitUntil: number | undefined;
  for (const id of await listWal(request.storage)) {
    const entry = await getWal<AdminRotationWal>(request.storage, id);
    if (entry?.kind !== ADMIN_ROTATION_WAL) continue;
    const settled = await settleInterruptedRotation(engine, request, entry, current, writer, now());
    current = settled.config;
    if (settled.waitUntil === undefined) {
      await deleteWal(request.storage, entry.id);
    } else {
      waitUntil = Math.max(waitUntil ?? 0, settled.waitUntil);
    }
  }
  return { config: current, ...(waitUntil === undefined ? {} : { waitUntil }) };
}

/** The 503 a rotation gets while an earlier one's minting call may still land. */
export function rotationPendingError(waitUntil: number): VaultError {
  return codedError(
    503,
    `an earlier rotation of the admin token was interrupted while its minting call may still reach pachd, until ` +
      `${new Date(waitUntil).toISOString()}; no rotation starts before pachd can say how it ended: try again after ` +
      'that time',
  );
}

/**
 * The rollback of an admin token rotation the ticks could not settle (pachd unreachable meanwhile).
 * An immediate rollback (the host rolling back every entry whatever its age) takes the minting
 * call's time as passed too, as it does the WAL's grace.
 */
export const adminRotationRollback: WalKind = walKind(ADMIN_ROTATION_WAL, (engine, request, entry) =>
  engine.configs.update(request, async (config, writer) => {
    const now = request.data.immediate === true ? Number.POSITIVE_INFINITY : Date.now();
    const settled = await settleInterruptedRotation(
      engine,
      request,
      entry as WalEntry<AdminRotationWal>,
      config,
      writer,
      now,
    );
    // Kept for a later tick: the rollback deletes only entries whose rollback returned.
    if (settled.waitUntil !== undefined) throw rotationPendingError(settled.waitUntil);
  }),
);

/**
 * Settles one interrupted rotation as a writer of the configuration. Whatever the journal says,
 * the token the configuration holds is never revoked, and no admin token the configuration does
 * not hold is left working, but for a root token that may be pachd's only one.
 */
async function settleInterruptedRotation(
  engine: Engine,
  request: Request,
  entry: WalEntry<AdminRotationWal>,
  config: EngineConfig | undefined,
  writer: ConfigWriter,
  now: number,
): Promise<{ config: EngineConfig | undefined; waitUntil?: number }> {
  const journal = entry.data;
  const until = landsBy(entry);
  const configured = config?.admin_token;
  // The new token may go into the configuration only where it was minted: a writer who moved the
  // configuration (to another pachd, or another CA) while keeping the old token's value must not
  // receive it.
  const holds =
    journal.new_token !== undefined && configured === journal.new_token
      ? 'new'
      : configured === journal.old_token && isConfiguredHome(engine, config, journal)
        ? 'old'
        : 'neither';
  const facts: InterruptedRotationFacts = {
    holds,
    newJournaled: journal.new_token !== undefined,
    stage: journal.stage,
    subject: journal.subject,
    mayStillLand: now < until,
  };
  const log = { subject: journal.subject, wal_id: entry.id };
  const authApi = await authApiAtHome(engine, request.storage, config, journal, request.deadline);
  for (let question = nextQuestion(facts); question !== undefined; question = nextQuestion(facts)) {
    if (question === 'newWorks') facts.newWorks = await works(authApi, journal.new_token as string);
    else if (question === 'oldWorks') facts.oldWorks = await works(authApi, journal.old_token);
    else facts.configuredRootWorks = await configuredRootWorks(engine, authApi, config, journal);
  }
  const step = decideInterruptedRotation(facts);
  if (step === 'wait') return { config, waitUntil: until };
  const stored = await carryOut(engine, authApi, journal, step, config, writer, log);
  if (holds === 'neither' && journal.stage === 'revoking-old') {
    // The configuration had let the old token go before it was rewritten: it was on its way out.
    await authApi.revokeAsItself(journal.old_token);
  }
  return { config: stored };
}

/** Whether the configuration holds, at the rotation's own pachd, a token other than its two that works as pach:root. */
async function configuredRootWorks(
  engine: Engine,
  authApi: PachdAuthApi,
  config: EngineConfig | undefined,
  journal: AdminRotationWal,
): Promise<boolean> {
  // The admin token goes only to the configured pachd, through the configured CA.
  if (config === undefined || !isConfiguredHome(engine, config, journal)) return false;
  try {
    return (await authApi.identify(config.admin_token)).subject === 'pach:root';
  } catch (error) {
    if (tokenIsGone(error)) return false;
    throw error;
  }
}

async function carryOut(
  engine: Engine,
  authApi: PachdAuthApi,
  journal: AdminRotationWal,
  step: Exclude<InterruptedRotationStep, 'wait'>,
  config: EngineConfig | undefined,
  writer: ConfigWriter,
  log: Record<string, unknown>,
): Promise<EngineConfig | undefined> {
  const newToken = journal.new_token;
  switch (step) {
    case 'finish': {
      const outcome = await retireOldToken(authApi, journal);
      engine.logger.warn(
        `finished an interrupted admin token rotation: the old token is ${outcome === 'absent' ? 'gone' : 'revoked'}`,
        log,
      );
      return config;
    }
    case 'adopt': {
      if (config === undefined || newToken === undefined) throw new Error('nothing to adopt into');
      writer.protect(newToken);
      // pachd already retired the old token (RotateRootToken does so at once): keep the new one.
      const identity = await authApi.identify(newToken);
      const next = rotatedConfig(
        config,
        { token: newToken, subject: identity.subject, expiresAt: identity.expiresAt },
        identity.expiresAt,
        journal.generation,
      );
      await writer.save(next);
      engine.logger.warn('completed an interrupted admin token rotation: stored the new token', log);
      return next;
    }
    case 'undo':
      if (newToken === undefined) throw new Error('nothing to undo');
      await authApi.revoke(journal.old_token, newToken);
      engine.logger.warn('undid an interrupted admin token rotation: revoked its new token, the old one stays', log);
      return config;
    case 'forget':
      engine.logger.warn(
        newToken === undefined
          ? 'an admin token rotation was interrupted before pachd answered; if pachd generated a token, nobody ' +
              'holds it and it lives until its pachd expiry'
          : 'an admin token rotation was interrupted before pachd installed the new token, and its call can no ' +
              'longer land; nothing to undo',
        log,
      );
      return config;
    case 'revoke-orphan':
      if (newToken === undefined) throw new Error('nothing to revoke');
      await authApi.revokeAsItself(newToken);
      engine.logger.warn(
        'revoked the new admin token of an interrupted rotation: the configuration no longer holds it',
        log,
      );
      return config;
    case 'keep-root-orphan':
      engine.logger.error(
        'an interrupted rotation of pach:root minted a root token that no configuration holds; it is not revoked, ' +
          "as it may be pachd's only root token: rotate pach:root at pachd to take it out of use",
        { ...log, fingerprint: tokenFingerprint(newToken ?? '') },
      );
      return config;
  }
}
