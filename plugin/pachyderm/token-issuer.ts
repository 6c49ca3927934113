import { nanosToSeconds, type Nanoseconds } from '../sdk/duration';
import { internalError } from '../sdk/errors';
import { leaseResponse } from '../sdk/framework';
import type { Request, Response } from '../sdk/logical';
import { deleteWal, putWal, updateWal } from '../sdk/wal';
import type { Engine } from './engine';
import { resolveLeaseTtls } from './lease-ttl';
import type { MintedToken, PachdAuthority } from './pachd/authority';
import { PachdError } from './pachd/errors';
import { tokenFingerprint } from './pachd/token';
import { TOKEN_SECRET_TYPE, type TokenLeaseData } from './secret-token';
import { checkSubject } from './subjects';
import { vaultErrorFromPachd } from './upstream-errors';
import { PENDING_TOKEN_WAL, type PendingTokenWal } from './wal-rollback';

/**
 * Mints a pachd token and puts it behind a Vault lease, leaving nothing alive that Vault does
 * not know about: a WAL entry is written before pachd is asked and deleted only once the
 * token is on its way to Vault inside a lease. If the request dies in between (plugin killed,
 * Vault gave up on the request), the entry outlives it and the rollback tick revokes the token.
 *
 * Once Vault holds the response, a failure to register the lease makes Vault itself call this
 * engine's revoke, so the token is covered from then on too.
 */
export interface IssueOptions {
  subject: string;
  /** Where the subject came from, for the lease and the logs. */
  source: 'login' | 'creds';
  role: string;
  requestedTtl?: Nanoseconds | undefined;
  requestedMaxTtl?: Nanoseconds | undefined;
  roleTtl?: Nanoseconds | undefined;
  roleMaxTtl?: Nanoseconds | undefined;
}

export async function issueToken(engine: Engine, request: Request, options: IssueOptions): Promise<Response> {
  const config = await engine.configs.require(request.storage);
  const authority = await engine.pachd.configuredAuthority(config).catch((error: unknown) => {
    throw vaultErrorFromPachd(error, 'cannot reach pachd to issue a token');
  });
  const subject = checkSubject(options.subject, authority.generation);
  const ttls = resolveLeaseTtls({
    generation: authority.generation,
    requestedTtl: options.requestedTtl,
    requestedMaxTtl: options.requestedMaxTtl,
    roleTtl: options.roleTtl,
    roleMaxTtl: options.roleMaxTtl,
    configTtl: BigInt(config.ttl_seconds) * 1_000_000_000n,
    configMaxTtl: BigInt(config.max_ttl_seconds) * 1_000_000_000n,
    mountDefaultTtl: await engine.system.defaultLeaseTtl(),
    mountMaxTtl: await engine.system.maxLeaseTtl(),
  });

  const preparedToken = authority.prepareToken(subject);
  const pending: PendingTokenWal = {
    subject,
    generation: authority.generation,
    pachd_address: authority.connection.address.canonical,
    expires_at: new Date(Date.now() + ttls.pachdLifetimeSeconds * 1000).toISOString(),
    ...(preparedToken === undefined ? {} : { token: preparedToken }),
  };
  const wal = await putWal(request.storage, PENDING_TOKEN_WAL, pending);

  let minted: MintedToken;
  try {
    minted = await authority.mint({
      adminToken: config.admin_token,
      subject,
      lifetimeSeconds: ttls.pachdLifetimeSeconds,
      preparedToken,
    });
  } catch (error) {
    // A refusal leaves nothing at pachd. An unanswered call may have minted: when the token
    // value is ours the WAL entry stays for the rollback tick; when pachd chose it, there is
    // nothing the entry could revoke, and pachd expires the token at its lifetime.
    if (!(error instanceof PachdError) || error.failure !== 'unreachable' || preparedToken === undefined) {
      await deleteWal(request.storage, wal.id).catch(() => undefined);
    }
    throw vaultErrorFromPachd(error, `cannot issue a token for ${subject}`);
  }

  try {
    // Journal pachd's value at once: from here on, only revoking it cleans up.
    if (preparedToken === undefined) await updateWal(request.storage, wal, { ...pending, token: minted.token });
    if (request.cancelled()) {
      throw internalError('the request was cancelled before the token reached Vault, so the token is revoked again');
    }
    await deleteWal(request.storage, wal.id);
  } catch (error) {
    if (await revokeAbandoned(engine, authority, config.admin_token, minted.token, subject)) {
      await deleteWal(request.storage, wal.id).catch(() => undefined);
    }
    throw error;
  }

  const data: TokenLeaseData = {
    token: minted.token,
    subject: minted.subject,
    generation: authority.generation,
    pachd_address: authority.connection.address.canonical,
    ttl_seconds: nanosToSeconds(ttls.ttl),
    max_ttl_seconds: nanosToSeconds(ttls.maxTtl),
    token_expires_at: minted.expiresAt?.toISOString() ?? null,
    role: options.role,
    source: options.source,
  };
  engine.logger.debug('issued pachd token', {
    subject: minted.subject,
    role: options.role,
    source: options.source,
    fingerprint: tokenFingerprint(minted.token),
    token_expires_at: data.token_expires_at,
  });
  return leaseResponse({
    secretType: TOKEN_SECRET_TYPE,
    data: {
      user_token: minted.token,
      pachd_address: authority.connection.address.canonical,
      subject: minted.subject,
      token_expires_at: data.token_expires_at,
    },
    internalData: { ...data },
    ttl: ttls.ttl,
    maxTtl: ttls.maxTtl,
    renewable: true,
    warnings: ttls.warnings,
  });
}

/** Revokes a token minted for a request that can no longer receive it; true when done. */
async function revokeAbandoned(
  engine: Engine,
  authority: PachdAuthority,
  adminToken: string,
  token: string,
  subject: string,
): Promise<boolean> {
  try {
    await authority.revoke(adminToken, token);
    return true;
  } catch (error) {
    engine.logger.error('could not revoke a token whose issuance failed; the rollback tick retries', {
      subject,
      fingerprint: tokenFingerprint(token),
      error: (error as Error).message,
    });
    return false;
  }
}
