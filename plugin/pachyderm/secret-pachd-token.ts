/**
 * @file
 * The lease behind every issued pachd token. Its internal data carries everything renew and
 * revoke need (the token, where it lives, its generation and limits), so both keep working
 * after the role, or even the configuration, changed or went away.
 */

import { formatDuration, NANOS_PER_SECOND, secondsToNanos } from '../sdk/duration';
import { badRequest, unrecoverable } from '../sdk/errors';
import type { RenewResult, SecretDefinition } from '../sdk/framework';
import type { Request, Secret } from '../sdk/logical';
import type { Engine } from './mount/engine';
import { pachdLifetime, V1_EXPIRY_SKEW_SECONDS } from './issuance/lease-ttl';
import { TOKEN_SECRET_TYPE, type TokenLeaseData } from './issuance/token-lease';
import { PACHD_V1_MAX_TTL_SECONDS, type RevokeOutcome } from './pachd/auth-api';
import { PachdError, tokenIsGone } from './pachd/errors';
import { tokenFingerprint } from './pachd/token-material';
import { removeDynamicRobot } from './roles/robot-bindings';
import { formatRoleBindings, bindingsFromStored, type RoleBinding } from './roles/role-bindings';
import { reachHome } from './mount/token-home';
import { pastPachdExpiry, revokeAtHome } from './mount/token-revocation';
import { vaultErrorFromPachd } from './mount/upstream-errors';

export function pachdTokenSecret(engine: Engine): SecretDefinition {
  return {
    type: TOKEN_SECRET_TYPE,
    description: 'A Pachyderm (pachd) token behind a Vault lease.',
    fields: {
      user_token: {
        type: 'string',
        description: 'The pachd token; pass it as the authn-token or with pachctl auth use-auth-token.',
        sensitive: true,
      },
      pachd_address: { type: 'string', description: 'The pachd the token is valid at.' },
      subject: { type: 'string', description: 'Who the token authenticates as.' },
      token_expires_at: { type: 'string', description: 'When pachd expires the token (RFC 3339), null if never.' },
      role_bindings: {
        type: 'comma-string-list',
        description: "A dynamic robot's role bindings (repo:default/images=repoReader), removed when the lease ends.",
      },
    },
    renew: (request, secret) => renewToken(engine, request, secret),
    revoke: async (request, secret) => revokeToken(engine, request, secret),
  };
}

async function renewToken(engine: Engine, request: Request, secret: Secret): Promise<RenewResult> {
  const lease = leaseData(secret, 'renew');
  const elapsed = BigInt(Math.max(0, Date.now() - secret.leaseOptions.issueTime.getTime())) * 1_000_000n;
  const maxTtl = secondsToNanos(lease.max_ttl_seconds);
  let remaining = maxTtl - elapsed;
  // A 2.x token dies at its pachd expiry, whatever the lease says: no renewal reaches past it.
  if (lease.generation === 2 && lease.token_expires_at !== null) {
    const untilExpiry = BigInt(Math.max(0, Date.parse(lease.token_expires_at) - Date.now())) * 1_000_000n;
    if (untilExpiry < remaining) remaining = untilExpiry;
  }
  // The host rounds a lease's TTL up to whole seconds (OpenBao 2.6.2 made 1.692 s into 2 s), so
  // what is left is offered in whole seconds rounded down: the lease never outlives the token.
  remaining = (remaining / NANOS_PER_SECOND) * NANOS_PER_SECOND;
  if (remaining < NANOS_PER_SECOND) {
    throw badRequest(
      `this lease reached its max_ttl of ${formatDuration(maxTtl)} and cannot be renewed; request a new token`,
    );
  }
  const increment = secret.leaseOptions.increment;
  const wanted = increment > 0n ? increment : secondsToNanos(lease.ttl_seconds);
  const warnings: string[] = [];
  let ttl = wanted;
  if (ttl > remaining) {
    ttl = remaining;
    warnings.push(`renewed only up to max_ttl: ${formatDuration(remaining)} left`);
  }

  const config = await engine.configs.load(request.storage);
  const { authApi, adminTokenGoesThere } = await reachHome(
    engine,
    request.storage,
    config,
    lease,
    request.deadline,
  ).catch((error: unknown) => {
    throw vaultErrorFromPachd(error, 'cannot renew');
  });

  if (lease.generation === 1) {
    if (config === undefined) {
      throw badRequest(
        'cannot renew: the engine is no longer configured, so it has no admin token to extend the token with',
      );
    }
    if (!adminTokenGoesThere) {
      throw badRequest(
        `cannot renew: this lease's token lives at pachd ${lease.pachd_address}, and the engine is now configured ` +
          'for another pachd (or another CA); its admin token goes nowhere else, so the token cannot be extended. ' +
          'Request a new one',
      );
    }
    const cap = secondsToNanos(PACHD_V1_MAX_TTL_SECONDS - V1_EXPIRY_SKEW_SECONDS);
    if (ttl > cap) {
      ttl = cap;
      warnings.push('pachd 1.x extends a token by at most 30 days; renewed for that long');
    }
    const lifetime = pachdLifetime(1, ttl, ttl);
    try {
      const extended = await authApi.extend(config.admin_token, lease.token, lifetime);
      const expiresAt = extended ? new Date(Date.now() + lifetime * 1000).toISOString() : lease.token_expires_at;
      return { ttl, internalData: { token_expires_at: expiresAt }, warnings };
    } catch (error) {
      if (error instanceof PachdError && error.failure === 'unauthenticated') {
        // pachd says the same for a bad caller and for an unknown token: find out which.
        await authApi.identify(config.admin_token).catch((adminError: unknown) => {
          throw vaultErrorFromPachd(adminError, 'cannot renew');
        });
        throw badRequest(
          `cannot renew: the token for ${lease.subject} no longer exists at pachd (revoked or expired there); ` +
            `request a new one`,
        );
      }
      throw vaultErrorFromPachd(error, 'cannot renew');
    }
  }

  // 2.x: the token was cut at max_ttl; only the lease moves. Refuse if it was revoked meanwhile.
  try {
    await authApi.identify(lease.token);
  } catch (error) {
    if (tokenIsGone(error)) {
      throw badRequest(`cannot renew: the token for ${lease.subject} was revoked at pachd; request a new one`);
    }
    warnings.push(`could not check the token at pachd (${(error as Error).message}); renewed the lease anyway`);
  }
  return { ttl, warnings };
}

async function revokeToken(engine: Engine, request: Request, secret: Secret): Promise<void> {
  const lease = leaseData(secret, 'revoke');
  if (lease.role_bindings !== undefined) return revokeDynamicRobot(engine, request, lease, lease.role_bindings);
  if (pastPachdExpiry(lease.token_expires_at)) {
    engine.logger.debug('lease outlived its pachd token; nothing to revoke', { subject: lease.subject });
    return;
  }
  const config = await engine.configs.load(request.storage);
  let outcome: RevokeOutcome;
  try {
    outcome = await revokeAtHome(engine, request.storage, config, lease, lease.token, request.deadline);
  } catch (error) {
    // Vault retries failed revocations with backoff; the error says why this one failed.
    throw vaultErrorFromPachd(error, `cannot revoke the token for ${lease.subject}`);
  }
  engine.logger.debug(
    outcome === 'absent' ? 'pachd no longer had the token of a revoked lease' : 'revoked pachd token',
    {
      subject: lease.subject,
      fingerprint: tokenFingerprint(lease.token),
    },
  );
}

/** A dynamic robot's lease ended: its tokens and every binding go, even if its token expired already. */
async function revokeDynamicRobot(
  engine: Engine,
  request: Request,
  lease: TokenLeaseData,
  bindings: RoleBinding[],
): Promise<void> {
  const config = await engine.configs.load(request.storage);
  try {
    const removal = await removeDynamicRobot(engine, request.storage, config, { ...lease, bindings }, request.deadline);
    engine.logger.debug('removed a dynamic robot', {
      subject: lease.subject,
      fingerprint: tokenFingerprint(lease.token),
      tokens_revoked: removal.tokensRevoked,
      bindings_removed: removal.bindingsRemoved,
      resources_gone: removal.resourcesGone,
    });
  } catch (error) {
    throw vaultErrorFromPachd(
      error,
      `cannot remove the dynamic robot ${lease.subject} (${formatRoleBindings(bindings).join(', ')})`,
    );
  }
}

function leaseData(secret: Secret, doing: 'renew' | 'revoke'): TokenLeaseData {
  const data = secret.internalData;
  const valid =
    typeof data.token === 'string' &&
    data.token !== '' &&
    typeof data.subject === 'string' &&
    (data.generation === 1 || data.generation === 2) &&
    typeof data.pachd_address === 'string' &&
    (data.pachd_tls_ca_sha256 === undefined || typeof data.pachd_tls_ca_sha256 === 'string') &&
    typeof data.ttl_seconds === 'number' &&
    typeof data.max_ttl_seconds === 'number';
  if (!valid) {
    // No retry can make up for missing lease data: tell Vault to stop trying.
    throw unrecoverable(`cannot ${doing}: this lease's internal data is incomplete`);
  }
  const bindings = data.role_bindings === undefined ? undefined : bindingsFromStored(data.role_bindings);
  // Only a robot this engine made holds bindings it may take apart, and revoking it revokes every
  // token of its subject: a lease saying otherwise was not written by this engine.
  const dynamicRobot = bindings !== undefined && bindings.length > 0 && (data.subject as string).startsWith('robot:');
  if (data.role_bindings !== undefined && !dynamicRobot) {
    throw unrecoverable(`cannot ${doing}: this lease's role bindings are unreadable`);
  }
  return { ...(data as unknown as TokenLeaseData), ...(bindings === undefined ? {} : { role_bindings: bindings }) };
}
