import type { EngineConfig } from './config';
import type { Engine } from './engine';
import type { TokenHome } from './pachd-clients';
import type { RevokeOutcome } from '../pachd/auth-api';
import { PachdError } from '../pachd/errors';
import { reachHome } from './token-home';
import type { Storage } from '../../sdk/storage';

/**
 * Revokes a token at the pachd it lives at. The admin token goes only to the configured pachd:
 * a token issued at an address the configuration has since moved away from is revoked with its
 * own authority, as is any token once the admin token stops working (2.x lets any
 * authenticated caller revoke any token, 1.x lets everyone revoke their own). A token pachd no
 * longer knows counts as revoked.
 */
export async function revokeAtHome(
  engine: Engine,
  storage: Storage,
  config: EngineConfig | undefined,
  home: TokenHome,
  token: string,
  deadline?: number,
): Promise<RevokeOutcome> {
  const { authApi, adminTokenGoesThere } = await reachHome(engine, storage, config, home, deadline);
  if (config === undefined || !adminTokenGoesThere) return authApi.revokeAsItself(token);
  try {
    return await authApi.revoke(config.admin_token, token);
  } catch (error) {
    // The admin token is expired, revoked, or from another cluster.
    if (error instanceof PachdError && error.failure === 'unauthenticated') return authApi.revokeAsItself(token);
    throw error;
  }
}

/** A token this far past its pachd expiry by this host's clock is gone at pachd whatever pachd's clock says. */
export const EXPIRED_MARGIN_MS = 60_000;

/** Whether a token is past its pachd expiry (ISO; null when it never expires) by the margin: revoking it is moot. */
export function pastPachdExpiry(expiresAt: string | null): boolean {
  return expiresAt !== null && Date.parse(expiresAt) + EXPIRED_MARGIN_MS < Date.now();
}
