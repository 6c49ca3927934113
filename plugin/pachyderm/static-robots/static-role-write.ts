/**
 * @file
 * Writing a static role. Everything that needs no change at pachd is checked first (a 400 for bad
 * input, even with pachd down): the subject is a robot this engine may hold on its own, the
 * schedule and grace fit each other and the pachd generation, the bindings are ones a robot of
 * this engine may hold; then that pachd takes the bindings (each resource exists, the admin token
 * may change its bindings), before anything is stored. A new role is stored, its bindings granted
 * and its first token made; if any of that fails the role is taken apart again. An update stores
 * the new definition (its bindings marked to grant), grants them and removes those it drops, and
 * rotates at once when the schedule changed, so the token's pachd lifetime always matches the
 * schedule that replaces it; what pachd fails to do of it is finished by the tick.
 */

import { randomUUID } from 'node:crypto';
import { badRequest, ErrorType, VaultError } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import { getJson } from '../../sdk/storage';
import type { EngineConfig, PachdObservation, RotationSettings } from '../mount/config';
import type { Engine } from '../mount/engine';
import { observationFor } from '../mount/pachd-observation';
import { rotationFailed, validateRotationSettings } from '../mount/rotation-schedule';
import { vaultErrorFromPachd } from '../mount/upstream-errors';
import { PachdRelease } from '../pachd/release';
import { checkBindingsAtPachd } from '../roles/binding-checks';
import { ROLE_PREFIX, robotNameTemplateOf, roleFromStored, type StoredRole } from '../roles/role';
import { checkRoleBindings, type RoleBinding } from '../roles/role-bindings';
import { RobotNameTemplate } from '../roles/robot-name-template';
import {
  deleteStaticRole,
  listStaticRoles,
  loadStaticRole,
  saveStaticRole,
  type StoredStaticRole,
} from '../roles/static-role';
import { checkSubject, checkSubjectForm } from '../roles/subjects';
import { droppedBindings, grantStaticBindings, removeStaticBindings } from './static-bindings';
import { checkStaticTiming } from './static-lifetime';
import { retireDueTokens } from './static-retirement';
import { rotateStaticRole, staticMintingShortfall } from './static-rotation';

/** What a write gives; absent fields keep the stored values. */
export interface StaticRoleInput {
  subject?: string | undefined;
  bindings?: RoleBinding[] | undefined;
  rotationPeriodSeconds?: number | undefined;
  rotationSchedule?: string | undefined;
  rotationWindowSeconds?: number | undefined;
  rotationGraceSeconds?: number | undefined;
}

/** Creates or updates the role; the caller holds the static-role lock. */
export async function writeStaticRole(
  engine: Engine,
  request: Request,
  name: string,
  input: StaticRoleInput,
): Promise<string[]> {
  const existing = await loadStaticRole(request.storage, name);
  if (existing?.deleting === true) {
    throw badRequest(`the static role ${name} is being deleted; delete it again, or wait for the rollback tick`);
  }
  const subject = subjectOf(existing, input.subject);
  const settings = settingsOf(existing, input);
  validateRotationSettings(settings);
  const grace = input.rotationGraceSeconds ?? existing?.rotation_grace_seconds ?? 0;
  const bindings = input.bindings ?? existing?.role_bindings ?? [];

  const config = await engine.configs.load(request.storage);
  if (config === undefined) {
    throw badRequest('write config first: a static role is checked against pachd and given its token when written');
  }
  const now = new Date();
  const observation = await observationFor(engine, config, request.deadline).catch((error: unknown) => {
    throw vaultErrorFromPachd(error, 'cannot check the static role at pachd');
  });
  const release = PachdRelease.parse(observation.pachd_version);
  checkSubject(subject, observation.generation, release);
  checkStaticTiming(settings, grace, observation.generation, now);
  if (bindings.length > 0) {
    const atPachd = checkRoleBindings(bindings, observation.generation, release);
    // Asked before anything is stored: a binding pachd refuses would otherwise be kept by the
    // role and fail every rotation after it.
    if (existing === undefined || input.bindings !== undefined)
      await checkGrantable(engine, request, config, observation, atPachd);
  }
  if (existing === undefined) await checkSubjectIsFree(request, name, subject, observation);

  if (existing === undefined) return create(engine, request, name, { subject, settings, grace, bindings }, now);

  const scheduleChanged =
    (existing.rotation_period_seconds ?? 0) !== (settings.rotation_period_seconds ?? 0) ||
    (existing.rotation_schedule ?? '') !== (settings.rotation_schedule ?? '') ||
    existing.rotation_grace_seconds !== grace;
  // What is bound again is no longer to be removed: a tick must not take away a binding the role holds.
  const stale = droppedBindings(
    [...(existing.stale_bindings ?? []), ...droppedBindings(existing.role_bindings, bindings)],
    bindings,
  );
  const { stale_bindings: _stale, grant_pending: _pending, ...unchanged } = existing;
  const updated: StoredStaticRole = {
    ...unchanged,
    ...settings,
    role_bindings: bindings,
    rotation_grace_seconds: grace,
    ...(stale.length > 0 ? { stale_bindings: stale } : {}),
    // Stored before pachd is asked: whatever fails or crashes next, the tick grants them.
    ...(bindings.length > 0 ? { grant_pending: true } : {}),
  };
  await saveStaticRole(request.storage, name, updated);
  const warnings: string[] = [];
  if (scheduleChanged || existing.current === undefined) {
    // The current token lives as long as the old schedule needed; the new one replaces it now,
    // or, when pachd fails, at the tick's first retry.
    try {
      await rotateStaticRole(engine, request, name, updated, now);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const permanent = error instanceof VaultError && error.type === ErrorType.InvalidRequest;
      const stored = (await loadStaticRole(request.storage, name)) ?? updated;
      const rotation = rotationFailed(stored, stored.rotation ?? {}, 'scheduled', message, permanent, new Date());
      await saveStaticRole(request.storage, name, { ...stored, rotation });
      throw error;
    }
  } else {
    const authApi = await engine.pachd.configuredAuthApi(config, request.deadline).catch((error: unknown) => {
      throw vaultErrorFromPachd(error, 'cannot change the bindings of the static robot');
    });
    await grantStaticBindings(authApi, config, release, subject, bindings).catch((error: unknown) => {
      throw vaultErrorFromPachd(error, `cannot grant the role bindings of ${subject}`);
    });
    const { grant_pending: _granted, ...granted } = updated;
    await saveStaticRole(request.storage, name, granted);
    const after = await retireDueTokens(engine, request, name, granted, now);
    if ((after.stale_bindings ?? []).length > 0) {
      warnings.push('some dropped bindings could not be removed yet; the rollback tick keeps trying');
    }
  }
  return warnings;
}

async function create(
  engine: Engine,
  request: Request,
  name: string,
  spec: { subject: string; settings: RotationSettings; grace: number; bindings: RoleBinding[] },
  now: Date,
): Promise<string[]> {
  const role: StoredStaticRole = {
    version: 1,
    id: randomUUID(),
    subject: spec.subject,
    ...spec.settings,
    role_bindings: spec.bindings,
    rotation_grace_seconds: spec.grace,
    // Due at once: a crash before the first token is made leaves the tick to make it.
    rotation: { next_rotation: now.toISOString() },
  };
  await saveStaticRole(request.storage, name, role);
  try {
    await rotateStaticRole(engine, request, name, role, now);
  } catch (error) {
    await undoCreate(engine, request, name, role).catch((undoError: unknown) => {
      engine.logger.warn('could not take apart a static role whose first token failed; it stays, to be deleted', {
        role: name,
        error: (undoError as Error).message,
      });
    });
    throw error;
  }
  return [];
}

/** Removes what a failed create granted, and the role itself, so that nothing half-made stays. */
async function undoCreate(engine: Engine, request: Request, name: string, role: StoredStaticRole): Promise<void> {
  if (role.role_bindings.length > 0) {
    const config = await engine.configs.require(request.storage);
    const authApi = await engine.pachd.configuredAuthApi(config, request.deadline);
    const version = config.observed?.pachd_version;
    await removeStaticBindings(
      authApi,
      config,
      version === undefined ? undefined : PachdRelease.parse(version),
      role.subject,
      role.role_bindings,
    );
  }
  await deleteStaticRole(request.storage, name);
}

async function checkGrantable(
  engine: Engine,
  request: Request,
  config: EngineConfig,
  observation: PachdObservation,
  bindings: readonly RoleBinding[],
): Promise<void> {
  const unreachable = (error: unknown) => vaultErrorFromPachd(error, 'cannot check the role bindings at pachd');
  const authApi = await engine.pachd.configuredAuthApi(config, request.deadline).catch((error: unknown) => {
    throw unreachable(error);
  });
  // A subject that holds nothing: the check must not touch what the robot holds.
  const probe = `robot:vault-binding-check-${randomUUID().slice(0, 8)}`;
  await checkBindingsAtPachd(authApi, config, observation, bindings, probe, unreachable);
}

function subjectOf(existing: StoredStaticRole | undefined, given: string | undefined): string {
  const written = given?.trim();
  if (existing !== undefined) {
    if (written !== undefined && written !== '' && written !== existing.subject) {
      throw badRequest(
        `a static role's subject cannot change (it is ${existing.subject}): delete the role and write it again`,
      );
    }
    return existing.subject;
  }
  if (written === undefined || written === '') throw badRequest('a static role needs a subject, e.g. robot:loader');
  const subject = checkSubjectForm(written);
  if (!subject.startsWith('robot:')) {
    throw badRequest(
      `a static role's subject is a pachd robot, robot:<name>, not ${JSON.stringify(subject)}: users and other ` +
        'identities hold credentials of their own that the engine must not rotate away',
    );
  }
  return subject;
}

function settingsOf(existing: StoredStaticRole | undefined, input: StaticRoleInput): RotationSettings {
  const period = input.rotationPeriodSeconds ?? existing?.rotation_period_seconds ?? 0;
  const schedule = input.rotationSchedule ?? existing?.rotation_schedule ?? '';
  // Setting one of period and schedule takes the other away, as on config.
  const periodWins = input.rotationPeriodSeconds !== undefined && input.rotationPeriodSeconds > 0;
  const scheduleWins = input.rotationSchedule !== undefined && input.rotationSchedule !== '';
  const settings: RotationSettings = {
    rotation_period_seconds: scheduleWins && !periodWins ? 0 : period,
    rotation_schedule: periodWins && !scheduleWins ? '' : schedule,
    rotation_window_seconds: input.rotationWindowSeconds ?? existing?.rotation_window_seconds ?? 0,
  };
  if (periodWins && !scheduleWins && input.rotationWindowSeconds === undefined) settings.rotation_window_seconds = 0;
  return settings;
}

/**
 * The subject is nobody else's: not the admin token's, not another static role's, and not a name
 * a dynamic robot role could give one of its robots (whose lease end revokes every token of it).
 */
async function checkSubjectIsFree(
  request: Request,
  name: string,
  subject: string,
  observation: PachdObservation,
): Promise<void> {
  const shortfall = staticMintingShortfall(observation);
  if (shortfall !== undefined) throw badRequest(`cannot keep a token for ${subject}: ${shortfall}`);
  if (subject === observation.admin_subject) {
    throw badRequest(
      `${subject} is the engine's admin token's subject: rotate it with config/rotate-root, not as a static role`,
    );
  }
  for (const other of await listStaticRoles(request.storage)) {
    if (other === name) continue;
    if ((await loadStaticRole(request.storage, other))?.subject === subject) {
      throw badRequest(`${subject} is already the subject of the static role ${other}`);
    }
  }
  const robotName = subject.slice('robot:'.length);
  for (const roleName of await request.storage.list(ROLE_PREFIX)) {
    if (roleName.endsWith('/')) continue;
    const stored = await getJson<StoredRole>(request.storage, ROLE_PREFIX + roleName);
    if (stored === undefined) continue;
    const role = roleFromStored(stored);
    if (role.kind === 'robot' && RobotNameTemplate.parse(robotNameTemplateOf(role)).mayName(robotName)) {
      throw badRequest(
        `${subject} could be the name of a robot the dynamic robot role ${roleName} makes, and ending one of its ` +
          'leases revokes every token of that robot: pick a name its robot_name_template cannot make',
      );
    }
    if (role.kind === 'subject' && role.subject === subject) {
      throw badRequest(
        `${subject} is the subject of the role ${roleName}, whose leases hand out tokens of it: a static robot ` +
          'is the only holder of its subject',
      );
    }
  }
}
