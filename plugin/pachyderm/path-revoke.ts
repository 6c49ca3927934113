import { timingSafeEqual } from 'node:crypto';
import { badRequest } from '../sdk/errors';
import { definePath, type Path } from '../sdk/path';
import type { Engine } from './mount/engine';
import type { RevokeOutcome } from './pachd/auth-api';
import { isSendableToken } from './pachd/connection';
import { hashPachdToken, tokenFingerprint } from './pachd/token-material';
import { MAX_TOKEN_LENGTH } from './path-config';
import { revokeAtHome } from './mount/token-revocation';
import { vaultErrorFromPachd } from './mount/upstream-errors';

/** Revokes a pachd token by value: `vault write pachyderm/revoke user_token=...`. */
export function revokePath(engine: Engine): Path {
  return definePath({
    pattern: 'revoke',
    helpSynopsis: 'Revoke a pachd token by its value.',
    helpDescription: `
Revokes the token at the configured pachd with the admin token. A token pachd no longer knows
counts as revoked. Its Vault lease, if any, stays until it expires or is revoked; revoking it
then is harmless. The engine's own admin token is refused: rotate it with config/rotate-root.`,
    fields: {
      user_token: {
        type: 'string',
        description: 'The pachd token to revoke.',
        required: true,
        sensitive: true,
        maxLength: MAX_TOKEN_LENGTH,
      },
    },
    operations: {
      update: {
        summary: 'Revoke a pachd token.',
        handler: async (request, fields) => {
          const config = await engine.configs.require(request.storage);
          const token = fields.string('user_token').trim();
          if (token === '') throw badRequest('user_token is empty: give the pachd token to revoke');
          if (!isSendableToken(token)) {
            throw badRequest(
              'user_token holds characters no pachd token has (whitespace, control or non-ASCII characters)',
            );
          }
          if (sameToken(token, config.admin_token)) {
            throw badRequest(
              "this is the engine's own admin token, which every issuance needs; replace it with config/rotate-root " +
                'or by writing a new one to config',
            );
          }
          let outcome: RevokeOutcome;
          try {
            const authApi = await engine.pachd.configuredAuthApi(config, request.deadline);
            const home = { pachd_address: authApi.connection.address.canonical, generation: authApi.generation };
            outcome = await revokeAtHome(engine, request.storage, config, home, token, request.deadline);
          } catch (error) {
            throw vaultErrorFromPachd(error, 'cannot revoke the token');
          }
          engine.logger.debug('revoked pachd token by value', { fingerprint: tokenFingerprint(token), outcome });
          return undefined;
        },
      },
    },
  });
}

/** Compares by pachd's hash, in constant time, so timing tells nothing about the admin token. */
function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(hashPachdToken(a), 'hex'), Buffer.from(hashPachdToken(b), 'hex'));
}
