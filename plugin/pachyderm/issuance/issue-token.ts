/**
 * @file
 * Mints a pachd token and puts it behind a Vault lease, leaving nothing alive that neither Vault
 * nor the journal knows about. A WAL entry is written before pachd is asked (holding the token's
 * value whenever the engine picks it, see issuance-mode.ts) and released only once the answer
 * carrying the token has gone to the host; had the host given up by then, the token is revoked
 * instead. If the process dies anywhere in between, the entry outlives it and the rollback tick
 * revokes the token.
 *
 * Once Vault holds the answer, a failure to register the lease makes Vault itself call this
 * engine's revoke, so the token is covered from then on too.
 */

import { nanosToSeconds, type Nanoseconds } from '../../sdk/duration';
import { badRequest, codedError, internalError } from '../../sdk/errors';
import { leaseResponse } from '../../sdk/framework';
import type { Request, Response } from '../../sdk/logical';
import type { EngineConfig } from '../mount/config';
import type { Engine } from '../mount/engine';
import { IssuanceJournal, type IssuanceWal } from './issuance-journal';
import { issuanceOf, type Issuance } from './issuance-mode';
import { IssuanceTiming } from './issuance-timing';
import { resolveLeaseTtls } from './lease-ttl';
import type { MintedToken, PachdAuthApi } from '../pachd/auth-api';
import { PachdError } from '../pachd/errors';
import { PachdRelease } from '../pachd/release';
import { generatePachdToken, tokenFingerprint } from '../pachd/token-material';
import { observationFor } from '../mount/pachd-observation';
import { addRoleBindings } from '../roles/robot-bindings';
import { checkRoleBindings, formatRoleBindings, type RoleBinding } from '../roles/role-bindings';
import { TOKEN_SECRET_TYPE, type TokenLeaseData } from './token-lease';
import { checkSubject, checkSubjectForm } from '../roles/subjects';
import { configuredHome } from '../mount/token-home';
import { vaultErrorFromPachd } from '../mount/upstream-errors';

export interface IssueOptions {
  subject: string;
  /** Where the subject came from, for the lease and the logs. */
  source: 'login' | 'creds';
  role: string;
  requestedTtl?: Nanoseconds | undefined;
  requestedMaxTtl?: Nanoseconds | undefined;
  roleTtl?: Nanoseconds | undefined;
  roleMaxTtl?: Nanoseconds | undefined;
  /** A dynamic robot's role bindings: granted after the journal opens, before the token is minted. */
  bindings?: readonly RoleBinding[] | undefined;
}

export async function issueToken(engine: Engine, request: Request, options: IssueOptions): Promise<Response> {
  const timing = IssuanceTiming.for(engine.issuanceTiming, engine.logger);
  const config = await engine.configs.require(request.storage);
  // What needs no pachd is checked before asking pachd anything: bad input is a 400 even when pachd is down.
  checkSubjectForm(options.subject);
  const reach = (error: unknown) => vaultErrorFromPachd(error, 'cannot reach pachd to issue a token');
  const authApi = await engine.pachd.configuredAuthApi(config, request.deadline).catch((error: unknown) => {
    throw reach(error);
  });
  const observation = await observationFor(engine, config, request.deadline).catch((error: unknown) => {
    throw reach(error);
  });
  const issuance = issuanceOf(observation);
  const release = PachdRelease.parse(observation.pachd_version);
  const subject = checkSubject(options.subject, authApi.generation, release);
  // In the pachd's own terms, which may have changed generation since the role was written.
  const bindings =
    options.bindings === undefined ? undefined : checkRoleBindings(options.bindings, authApi.generation, release);
  if (!issuance.users && !subject.startsWith('robot:')) {
    throw badRequest(
      `cannot issue a token for ${subject}: this engine's admin token issues robot tokens only (${issuance.reason})`,
    );
  }
  timing.lap('config_and_checks');
  const mountTtls = await engine.mountTtls.get();
  timing.lap('host_mount_ttls');
  const ttls = resolveLeaseTtls({
    generation: authApi.generation,
    requestedTtl: options.requestedTtl,
    requestedMaxTtl: options.requestedMaxTtl,
    roleTtl: options.roleTtl,
    roleMaxTtl: options.roleMaxTtl,
    configTtl: BigInt(config.ttl_seconds) * 1_000_000_000n,
    configMaxTtl: BigInt(config.max_ttl_seconds) * 1_000_000_000n,
    mountDefaultTtl: mountTtls.defaultTtl,
    mountMaxTtl: mountTtls.maxTtl,
  });

  const home = await configuredHome(engine, request.storage, config, {
    generation: authApi.generation,
    pachd_address: authApi.connection.address.canonical,
  });
  const journal = new IssuanceJournal(engine, request.storage, config, {
    subject,
    ...home,
    expires_at: new Date(Date.now() + ttls.pachdLifetimeSeconds * 1000).toISOString(),
    ...(issuance.mode === 'restore' ? { token: generatePachdToken() } : {}),
    ...(bindings === undefined ? {} : { role_bindings: bindings }),
  });
  timing.lap('ttls_and_home');
  await journal.open();
  timing.lap('storage_wal_put');
  if (request.cancelled()) {
    await journal.close();
    throw internalError('the request was cancelled before a token was issued');
  }

  let minted: MintedToken;
  try {
    if (bindings !== undefined) {
      await withCurrentAdminToken(engine, request, config, (adminToken) =>
        addRoleBindings(authApi, adminToken, subject, bindings),
      );
    }
    minted = await mint(engine, request, config, authApi, issuance, journal.entry, ttls.pachdLifetimeSeconds);
    timing.lap(bindings === undefined ? 'pachd_mint' : 'pachd_bindings_and_mint');
  } catch (error) {
    if (bindings !== undefined) {
      // Some bindings may exist already: take the robot apart now. A call that may yet land at
      // pachd (its answer was lost, not refused) could grant or mint after that, so its entry
      // stays for the rollback, which acts only once no call of this request can still land.
      const mayLandLater = !(error instanceof PachdError) || error.mayHaveApplied;
      await journal.abandon(journal.entry.token, { keepEntry: mayLandLater });
    } else if (!(error instanceof PachdError) || !error.mayHaveApplied) {
      // A refusal leaves nothing at pachd.
      await journal.close().catch(() => undefined);
    } else {
      // A call that may have gone through keeps its entry: the rollback revokes the token by
      // value, or (pachd-generated) says when it expires.
      await journal.keep();
    }
    throw vaultErrorFromPachd(error, `cannot issue a token for ${subject}`);
  }

  try {
    // From here only revoking cleans up: pachd's value is journaled at once.
    if (journal.entry.token === undefined) {
      await journal.record(minted.token);
      timing.lap('storage_wal_record');
    } else {
      minted = { ...minted, expiresAt: await checkedExpiry(authApi, journal.entry, minted.token) };
      timing.lap('pachd_whoami');
    }
    if (request.cancelled()) {
      throw internalError('the request was cancelled before the token reached Vault, so the token is revoked again');
    }
  } catch (error) {
    await journal.abandon(minted.token);
    throw vaultErrorFromPachd(error, `cannot issue a token for ${subject}`);
  }
  request.afterResponse(async (delivered) => {
    const after = IssuanceTiming.for(engine.issuanceTiming, engine.logger);
    if (delivered) await journal.release();
    else await journal.abandon(minted.token);
    after.lap(delivered ? 'storage_wal_delete' : 'abandon');
    after.log(engine.logger, 'issuance journal settled');
  });

  const data: TokenLeaseData = {
    token: minted.token,
    subject: minted.subject,
    ...home,
    ttl_seconds: nanosToSeconds(ttls.ttl),
    max_ttl_seconds: nanosToSeconds(ttls.maxTtl),
    token_expires_at: minted.expiresAt?.toISOString() ?? null,
    role: options.role,
    source: options.source,
    ...(bindings === undefined ? {} : { role_bindings: bindings }),
  };
  engine.logger.debug('issued pachd token', {
    subject: minted.subject,
    role: options.role,
    source: options.source,
    fingerprint: tokenFingerprint(minted.token),
    token_expires_at: data.token_expires_at,
    issuance: issuance.mode,
  });
  const response = leaseResponse({
    secretType: TOKEN_SECRET_TYPE,
    data: {
      user_token: minted.token,
      pachd_address: authApi.connection.address.canonical,
      subject: minted.subject,
      token_expires_at: data.token_expires_at,
      ...(bindings === undefined ? {} : { role_bindings: formatRoleBindings(bindings) }),
    },
    internalData: { ...data },
    ttl: ttls.ttl,
    maxTtl: ttls.maxTtl,
    renewable: true,
    warnings: ttls.warnings,
  });
  timing.lap('answer');
  timing.log(engine.logger, 'issuance timing');
  return response;
}

/**
 * Asks pachd for the token: installs the journaled value (restore) or has pachd generate one.
 * A rotation may retire the admin token this request started with; the call is then tried once
 * more with the new one.
 */
async function mint(
  engine: Engine,
  request: Request,
  config: EngineConfig,
  authApi: PachdAuthApi,
  issuance: Issuance,
  pending: IssuanceWal,
  lifetimeSeconds: number,
): Promise<MintedToken> {
  return withCurrentAdminToken(
    engine,
    request,
    config,
    async (adminToken) => {
      if (pending.token === undefined) return authApi.generate(adminToken, pending.subject, lifetimeSeconds);
      const expiresAt = new Date(pending.expires_at);
      await authApi.restore(adminToken, { value: pending.token, subject: pending.subject, expiresAt });
      return { token: pending.token, subject: pending.subject, expiresAt };
    },
    issuance,
  );
}

/**
 * Runs a call with the admin token this request started with. A rotation may retire that token
 * meanwhile; the call is then tried once more with the new one.
 */
async function withCurrentAdminToken<T>(
  engine: Engine,
  request: Request,
  config: EngineConfig,
  call: (adminToken: string) => Promise<T>,
  issuance?: Issuance,
): Promise<T> {
  try {
    return await call(config.admin_token);
  } catch (error) {
    if (!(error instanceof PachdError) || error.failure !== 'unauthenticated') throw error;
    const current = await engine.configs.load(request.storage);
    // Only a new token for the same pachd: the admin token goes to no other address.
    const samePachd =
      current !== undefined &&
      current.pachd_address === config.pachd_address &&
      current.pachd_tls_ca === config.pachd_tls_ca &&
      current.generation === config.generation;
    if (current === undefined || !samePachd || current.admin_token === config.admin_token) throw error;
    engine.logger.debug('the admin token was rotated during an issuance; trying again with the new one', {
      ...(issuance === undefined ? {} : { issuance: issuance.mode }),
    });
    return call(current.admin_token);
  }
}

/**
 * pachd's own word on a restored token's expiry. pachd stores whole seconds left, and none at
 * all under one second: a clock far ahead of this host's could turn an expiring token into one
 * that never expires. Such a token is refused (and, as any token of a failed issuance, revoked).
 */
async function checkedExpiry(authApi: PachdAuthApi, pending: IssuanceWal, token: string): Promise<Date> {
  const identity = await authApi.identify(token);
  if (identity.expiresAt !== null) return identity.expiresAt;
  throw codedError(
    502,
    `pachd at ${pending.pachd_address} stored the token for ${pending.subject} without an expiry (its clock ` +
      "runs ahead of this host's by about the token's lifetime); the token is revoked again",
  );
}
