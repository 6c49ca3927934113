/**
 * @file
 * Where a token lives, and how to reach it there: the home a lease or a journal entry records
 * when a token is made, and the auth API of that pachd when the token is renewed, revoked or
 * cleaned up, whatever the configuration has become since.
 *
 * A home is dialled with the CA certificates it recorded, never with whatever the configuration
 * trusts now: a `config` writer who changed the CA for the same address (with an admin token of
 * their own) must not receive the tokens issued before. The admin token goes to a home only when
 * it is the configured pachd reached through the configured CA.
 */

import { codedError } from '../../sdk/errors';
import type { Storage } from '../../sdk/storage';
import type { EngineConfig } from './config';
import type { Engine } from './engine';
import { isConfiguredAddress, type TokenHome } from './pachd-clients';
import type { PachdAuthApi } from '../pachd/auth-api';

/** The pachd a token lives at, and whether the configuration's admin token may be used there. */
export interface ReachedHome {
  authApi: PachdAuthApi;
  /** The configured pachd, through the configured CA: the only place the admin token goes. */
  adminTokenGoesThere: boolean;
}

/** The home of tokens made now at the configured pachd, its CA certificates stored for later. */
export async function configuredHome(
  engine: Engine,
  storage: Storage,
  config: EngineConfig,
  home: Omit<TokenHome, 'pachd_tls_ca_sha256'>,
): Promise<TokenHome> {
  // "" records the system roots, so a home written since homes carry their CA is never read as
  // one written before (which names none, see reachHome).
  const reference = (await engine.tlsCas.keep(storage, config.pachd_tls_ca)) ?? '';
  return { ...home, pachd_tls_ca_sha256: reference };
}

/** The auth API of the pachd a token lives at, dialled as the home recorded. */
export async function reachHome(
  engine: Engine,
  storage: Storage,
  config: EngineConfig | undefined,
  home: TokenHome,
  deadline?: number,
): Promise<ReachedHome> {
  const atConfiguredAddress = config !== undefined && isConfiguredAddress(config, home.pachd_address);
  const reference = home.pachd_tls_ca_sha256;
  if (reference === undefined) {
    // Written before homes carried their CA: the configured pachd is reached as configured.
    const authApi = await engine.pachd.authApiAt(config, home, { deadline, configured: atConfiguredAddress });
    return { authApi, adminTokenGoesThere: atConfiguredAddress };
  }
  const homeTlsCa = reference === '' ? '' : await engine.tlsCas.fetch(storage, reference);
  if (homeTlsCa === undefined) {
    throw codedError(
      502,
      `cannot reach pachd at ${home.pachd_address}: the CA certificates it was reached with ` +
        `(tls-ca/${reference}) are no longer stored in this mount`,
    );
  }
  const configured = isConfiguredHome(engine, config, home);
  const authApi = await engine.pachd.authApiAt(config, home, { deadline, configured, homeTlsCa });
  return { authApi, adminTokenGoesThere: configured };
}

/**
 * Whether a home is the configured pachd reached through the configured CA (by address alone for
 * a home written before homes carried their CA).
 */
export function isConfiguredHome(engine: Engine, config: EngineConfig | undefined, home: TokenHome): boolean {
  if (config === undefined || !isConfiguredAddress(config, home.pachd_address)) return false;
  const reference = home.pachd_tls_ca_sha256;
  return reference === undefined || reference === engine.tlsCas.referenceOf(config.pachd_tls_ca);
}

/** The auth API of the pachd a token lives at, for calls that carry no admin token. */
export async function authApiAtHome(
  engine: Engine,
  storage: Storage,
  config: EngineConfig | undefined,
  home: TokenHome,
  deadline?: number,
): Promise<PachdAuthApi> {
  return (await reachHome(engine, storage, config, home, deadline)).authApi;
}
