import { badRequest, codedError, VaultError } from '../sdk/errors';
import { PachdError } from './pachd/errors';

/**
 * What a caller sees when pachd fails: 400 when pachd refused what the caller asked for, 502
 * (with pachd's address and the cause) when pachd is unreachable, misconfigured or failing.
 */
export function vaultErrorFromPachd(error: unknown, doing: string): unknown {
  if (error instanceof VaultError || !(error instanceof PachdError)) return error;
  switch (error.failure) {
    case 'invalid-input':
    // A repo or project a role names is gone: the role must change, not pachd.
    case 'resource-not-found':
      return badRequest(`${doing}: ${error.message}`);
    case 'unauthenticated':
      return codedError(
        502,
        `${doing}: ${error.message}; the configured admin token is expired or revoked (write a new one to <mount>/config)`,
      );
    case 'permission-denied':
      return codedError(502, `${doing}: ${error.message}; the configured admin token lacks this permission`);
    case 'busy':
      // Nothing reached pachd; the caller may simply try again.
      return codedError(503, `${doing}: ${error.message}`);
    default:
      return codedError(502, `${doing}: ${error.message}`);
  }
}
