/**
 * @file
 * Where a token lives, and how to reach it there: the home a lease or a journal entry records
 * when a token is made, and the auth API of that pachd when the token is renewed, revoked or
 * cleaned up, whatever the configuration has become since.
 */

import { codedError } from '../sdk/errors';
import type { Storage } from '../sdk/storage';
import type { EngineConfig } from './config';
import type { Engine } from './engine';
import { isConfiguredAddress, type TokenHome } from './pachd-clients';
import type { PachdAuthApi } from './pachd/auth-api';

/** The home of tokens made now at the configured pachd, its CA certificates stored for later. */
export async function configuredHome(
  engine: Engine,
  storage: Storage,
  config: EngineConfig,
  home: Omit<TokenHome, 'pachd_tls_ca_sha256'>,
): Promise<TokenHome> {
  const reference = await engine.tlsCas.keep(storage, config.pachd_tls_ca);
  return reference === undefined ? { ...home } : { ...home, pachd_tls_ca_sha256: reference };
}

/** The auth API of the pachd a token lives at (see PachdClients.authApiAt for how it is dialled). */
export async function authApiAtHome(
  engine: Engine,
  storage: Storage,
  config: EngineConfig | undefined,
  home: TokenHome,
  deadline?: number,
): Promise<PachdAuthApi> {
  const reference = home.pachd_tls_ca_sha256;
  const configured = config !== undefined && isConfiguredAddress(config, home.pachd_address);
  let homeTlsCa: string | undefined;
  if (!configured && reference !== undefined) {
    homeTlsCa = await engine.tlsCas.fetch(storage, reference);
    if (homeTlsCa === undefined) {
      throw codedError(
        502,
        `cannot reach pachd at ${home.pachd_address}: the CA certificates it was reached with ` +
          `(tls-ca/${reference}) are no longer stored in this mount`,
      );
    }
  }
  return engine.pachd.authApiAt(config, home, { deadline, homeTlsCa });
}
