import { badRequest } from '../sdk/errors';
import type { EngineConfig, ObservedPachd } from './config';
import type { Engine } from './engine';
import type { AdminIdentity, PachdGeneration } from './pachd/auth-api';
import { tokenFingerprint } from './pachd/token-material';

/**
 * What pachd says about a configuration: its release and generation, and what the admin token
 * may do. A verified configuration stores it; one written with verify_connection=false learns it
 * on first use, kept in memory only.
 */
export interface Observation {
  observed: ObservedPachd;
  admin: AdminIdentity;
}

export async function observePachd(engine: Engine, config: EngineConfig, deadline?: number): Promise<Observation> {
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
    observed: {
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

/** The configuration's observation: stored, or learned from pachd once per admin token. */
export async function observedFor(engine: Engine, config: EngineConfig, deadline?: number): Promise<ObservedPachd> {
  if (config.observed !== undefined) return config.observed;
  const cache = engine.learnedObservations;
  const key = `${config.pachd_address}\u0000${config.generation}\u0000${tokenFingerprint(config.admin_token)}`;
  const known = cache.get(key);
  if (known !== undefined) return known;
  const { observed } = await observePachd(engine, config, deadline);
  cache.set(key, observed);
  return observed;
}
