import type { PathDefinition } from '../sdk/framework';
import type { Engine } from './engine';
import { tokenFingerprint } from './pachd/token';
import { revokeAtPachd } from './secret-token';
import { vaultErrorFromPachd } from './upstream-errors';

/** Revokes a pachd token by value: `vault write pachyderm/revoke user_token=...`. */
export function revokePath(engine: Engine): PathDefinition {
  return {
    pattern: 'revoke',
    helpSynopsis: 'Revoke a pachd token by its value.',
    helpDescription: `
Revokes the token at the configured pachd with the admin token. A token pachd no longer knows
counts as revoked. Its Vault lease, if any, stays until it expires or is revoked; revoking it
then is harmless.`,
    fields: {
      user_token: { type: 'string', description: 'The pachd token to revoke.', required: true, sensitive: true },
    },
    operations: {
      update: {
        summary: 'Revoke a pachd token.',
        handler: async (request, fields) => {
          const config = await engine.configs.require(request.storage);
          const token = fields.string('user_token').trim();
          try {
            const authority = await engine.pachd.configuredAuthority(config);
            await revokeAtPachd(authority, config, token);
          } catch (error) {
            throw vaultErrorFromPachd(error, 'cannot revoke the token');
          }
          engine.logger.debug('revoked pachd token by value', { fingerprint: tokenFingerprint(token) });
          return undefined;
        },
      },
    },
  };
}
