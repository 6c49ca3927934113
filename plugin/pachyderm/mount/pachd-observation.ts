import { badRequest } from '../../sdk/errors';
import type { EngineConfig, PachdObservation } from './config';
import type { Engine } from './engine';
import type { AdminIdentity, PachdGeneration } from '../pachd/auth-api';

/**
 * @file
 * The pachd observation: what pachd says about a configuration, its release and generation and
 * what the admin token may do. A verified configuration stores it (its `observed` field); one
 * written with verify_connection=false observes pachd on first use and keeps the observation in
 * memory only (pachd-observations.ts).
 */

/** An observation, with the admin token's identity it was made from. */
export interface ObservationWithAdmin {
  observation: PachdObservation;
  admin: AdminIdentity;
}

export async function observePachd(
  engine: Engine,
  config: EngineConfig,
  deadline?: number,
): Promise<ObservationWithAdmin> {
  const connection = engine.pachd.connection(config, { deadline });
  const version = await engine.pachd.version(connection, true);
  const generation: PachdGeneration =
    config.generation === 'auto' ? version.generation : config.generation === '1' ? 1 : 2;
  if (generation !== version.generation) {
    // Asking the other generation's auth API would only fail, less clearly.
    throw badRequest(
      `generation is forced to ${generation}, but pachd ${version.version} speaks generation ${version.generation}`,
    );
  }
  const authApi = await engine.pachd.authApi(connection, generation, version.version);
  const admin = await authApi.verifyAdmin(config.admin_token);
  return {
    admin,
    observation: {
      generation,
      pachd_version: version.version,
      admin_subject: admin.subject,
      admin_expires_at: admin.expiresAt?.toISOString() ?? null,
      can_mint_users: admin.canRestore || admin.canGenerate.users,
      can_mint_robots: admin.canRestore || admin.canGenerate.robots,
      verified_at: new Date().toISOString(),
    },
  };
}

/** The configuration's observation: stored, or made once per admin token and kept in memory. */
export async function observationFor(
  engine: Engine,
  config: EngineConfig,
  deadline?: number,
): Promise<PachdObservation> {
  if (config.observed !== undefined) return config.observed;
  const known = engine.observations.recall(config);
  if (known !== undefined) return known;
  const { observation } = await observePachd(engine, config, deadline);
  engine.observations.keep(config, observation);
  return observation;
}
