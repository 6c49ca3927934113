import type { EngineConfig } from './config';
import type { Engine } from './engine';
import { isConfiguredAddress, type TokenHome } from './pachd-access';
import type { RevokeOutcome } from './pachd/authority';
import { PachdError } from './pachd/errors';

/**
 * Revokes a token at the pachd it lives at. The admin token goes only to the configured pachd:
 * a token issued at an address the configuration has since moved away from is revoked with its
 * own authority, as is any token once the admin token stops working (2.x lets any
 * authenticated caller revoke any token, 1.x lets everyone revoke their own). A token pachd no
 * longer knows counts as revoked.
 */
export async function revokeAtHome(
  engine: Engine,
  config: EngineConfig | undefined,
  home: TokenHome,
  token: string,
  deadline?: number,
): Promise<RevokeOutcome> {
  const authority = await engine.pachd.authorityAt(config, home, deadline);
  if (config === undefined || !isConfiguredAddress(config, authority.connection.address)) {
    return authority.revokeAsItself(token);
  }
  try {
    return await authority.revoke(config.admin_token, token);
  } catch (error) {
    // The admin token is expired, revoked, or from another cluster.
    if (error instanceof PachdError && error.failure === 'unauthenticated') return authority.revokeAsItself(token);
    throw error;
  }
}
