import { badRequest, codedError, VaultError } from '../../sdk/errors';
import { PachdError } from '../pachd/errors';

/**
 * Whose input the failed call was made of. By default the admin token and the address are the
 * stored configuration's, which only an operator can fix; a configuration write brings its own,
 * and then pachd refusing them is that request's bad value.
 */
export interface PachdCallInputs {
  /** The admin token is this request's `admin_token`, not yet stored. */
  candidateAdminToken?: boolean;
  /**
   * The address is this request's `pachd_address` and new to the engine: not answering is a bad
   * value, not an outage.
   */
  candidateAddress?: boolean;
  /** What the engine needs pachd's auth to be on for, when it is off. */
  activationNeededFor?: string;
}

/**
 * What a caller sees when pachd fails: 400 when pachd refused what the caller asked for, 502
 * (with pachd's address and the cause) when pachd is unreachable, misconfigured or failing.
 */
export function vaultErrorFromPachd(error: unknown, doing: string, inputs: PachdCallInputs = {}): unknown {
  if (error instanceof VaultError || !(error instanceof PachdError)) return error;
  switch (error.failure) {
    // A repo or project a role names being gone is the role's to fix, as bad input is the caller's.
    case 'invalid-input':
    case 'resource-not-found':
      return badRequest(`${doing}: ${error.message}`);
    case 'unauthenticated':
      if (inputs.candidateAdminToken === true) {
        return badRequest(
          `pachd at ${error.address} rejected admin_token (expired, revoked, or from another cluster): ${error.detail}`,
        );
      }
      return codedError(
        502,
        `${doing}: ${error.message}; the configured admin token is expired or revoked (write a new one to ` +
          `<mount>/config)`,
      );
    case 'permission-denied':
      if (inputs.candidateAdminToken === true) return badRequest(`admin_token is not a pachd admin: ${error.message}`);
      return codedError(502, `${doing}: ${error.message}; the configured admin token lacks this permission`);
    case 'not-activated':
      if (inputs.activationNeededFor !== undefined) {
        return codedError(
          502,
          `${error.message}; activate auth (pachctl auth activate) before ${inputs.activationNeededFor}`,
        );
      }
      return codedError(502, `${doing}: ${error.message}`);
    case 'busy':
      // Nothing reached pachd; the caller may simply try again.
      return codedError(503, `${doing}: ${error.message}`);
    default:
      if (inputs.candidateAddress === true) {
        return badRequest(
          `${doing}: ${error.message}; check pachd_address (grpcs:// for a TLS pachd), ` +
            'or store it unchecked with verify_connection=false',
        );
      }
      return codedError(502, `${doing}: ${error.message}`);
  }
}
