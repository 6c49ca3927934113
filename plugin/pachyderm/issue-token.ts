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

import { nanosToSeconds, type Nanoseconds } from '../sdk/duration';
import { badRequest, codedError, internalError } from '../sdk/errors';
import { leaseResponse } from '../sdk/framework';
import type { Request, Response } from '../sdk/logical';
import type { Storage } from '../sdk/storage';
import { deleteWal, putWal, updateWal, type WalEntry } from '../sdk/wal';
import type { EngineConfig } from './config';
import type { Engine } from './engine';
import { issuanceOf, type Issuance } from './issuance-mode';
import { resolveLeaseTtls } from './lease-ttl';
import type { MintedToken, PachdAuthApi } from './pachd/auth-api';
import { PachdError } from './pachd/errors';
import { PachdRelease } from './pachd/release';
import { generatePachdToken, tokenFingerprint } from './pachd/token-material';
import { observedFor } from './pachd-observation';
import { grantRoles, removeDynamicRobot } from './robot-bindings';
import { checkRoleGrants, formatRoleGrants, type RoleGrant } from './role-bindings';
import { TOKEN_SECRET_TYPE, type TokenLeaseData } from './secret-pachd-token';
import { checkSubject, checkSubjectForm } from './subjects';
import { configuredHome } from './token-home';
import { revokeAtHome } from './token-revocation';
import { vaultErrorFromPachd } from './upstream-errors';
import { PENDING_TOKEN_WAL, type PendingTokenWal } from './wal-rollback';

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
  grants?: readonly RoleGrant[] | undefined;
}

/** Attempts to release a WAL entry after the answer went out, before leaving it to the rollback. */
const RELEASE_ATTEMPTS = 3;
const RELEASE_RETRY_MS = 200;

export async function issueToken(engine: Engine, request: Request, options: IssueOptions): Promise<Response> {
  const config = await engine.configs.require(request.storage);
  // What needs no pachd is checked before asking pachd anything: bad input is a 400 even when pachd is down.
  checkSubjectForm(options.subject);
  const reach = (error: unknown) => vaultErrorFromPachd(error, 'cannot reach pachd to issue a token');
  const authApi = await engine.pachd.configuredAuthApi(config, request.deadline).catch((error: unknown) => {
    throw reach(error);
  });
  const observed = await observedFor(engine, config, request.deadline).catch((error: unknown) => {
    throw reach(error);
  });
  const issuance = issuanceOf(observed);
  const release = PachdRelease.parse(observed.pachd_version);
  const subject = checkSubject(options.subject, authApi.generation, release);
  // In the pachd's own terms, which may have changed generation since the role was written.
  const grants =
    options.grants === undefined ? undefined : checkRoleGrants(options.grants, authApi.generation, release);
  if (!issuance.users && !subject.startsWith('robot:')) {
    throw badRequest(
      `cannot issue a token for ${subject}: this engine's admin token issues robot tokens only (${issuance.reason})`,
    );
  }
  const ttls = resolveLeaseTtls({
    generation: authApi.generation,
    requestedTtl: options.requestedTtl,
    requestedMaxTtl: options.requestedMaxTtl,
    roleTtl: options.roleTtl,
    roleMaxTtl: options.roleMaxTtl,
    configTtl: BigInt(config.ttl_seconds) * 1_000_000_000n,
    configMaxTtl: BigInt(config.max_ttl_seconds) * 1_000_000_000n,
    mountDefaultTtl: await engine.system.defaultLeaseTtl(),
    mountMaxTtl: await engine.system.maxLeaseTtl(),
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
    ...(grants === undefined ? {} : { role_bindings: grants }),
  });
  await journal.open();
  if (request.cancelled()) {
    await journal.close();
    throw internalError('the request was cancelled before a token was issued');
  }

  let minted: MintedToken;
  try {
    if (grants !== undefined) {
      await withCurrentAdminToken(engine, request, config, (adminToken) =>
        grantRoles(authApi, adminToken, subject, grants),
      );
    }
    minted = await mint(engine, request, config, authApi, issuance, journal.entry, ttls.pachdLifetimeSeconds);
  } catch (error) {
    if (grants !== undefined) {
      // Some bindings may exist already: take the robot apart now. A call that may yet land at
      // pachd (its answer was lost, not refused) could grant or mint after that, so its entry
      // stays for the rollback, which acts only once no call of this request can still land.
      const mayLandLater = !(error instanceof PachdError) || error.mayHaveApplied;
      await journal.abandon(journal.entry.token, { keepEntry: mayLandLater });
    } else if (!(error instanceof PachdError) || !error.mayHaveApplied) {
      // A refusal leaves nothing at pachd. A call that may have gone through keeps its entry: the
      // rollback revokes the token by value, or (pachd-generated) says when it expires.
      await journal.close().catch(() => undefined);
    }
    throw vaultErrorFromPachd(error, `cannot issue a token for ${subject}`);
  }

  try {
    // From here only revoking cleans up: pachd's value is journaled at once.
    if (journal.entry.token === undefined) await journal.record(minted.token);
    else minted = { ...minted, expiresAt: await checkedExpiry(authApi, journal.entry, minted.token) };
    if (request.cancelled()) {
      throw internalError('the request was cancelled before the token reached Vault, so the token is revoked again');
    }
  } catch (error) {
    await journal.abandon(minted.token);
    throw vaultErrorFromPachd(error, `cannot issue a token for ${subject}`);
  }
  request.afterResponse(async (delivered) => {
    if (delivered) await journal.release();
    else await journal.abandon(minted.token);
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
    ...(grants === undefined ? {} : { role_bindings: grants }),
  };
  engine.logger.debug('issued pachd token', {
    subject: minted.subject,
    role: options.role,
    source: options.source,
    fingerprint: tokenFingerprint(minted.token),
    token_expires_at: data.token_expires_at,
    issuance: issuance.mode,
  });
  return leaseResponse({
    secretType: TOKEN_SECRET_TYPE,
    data: {
      user_token: minted.token,
      pachd_address: authApi.connection.address.canonical,
      subject: minted.subject,
      token_expires_at: data.token_expires_at,
      ...(grants === undefined ? {} : { role_bindings: formatRoleGrants(grants) }),
    },
    internalData: { ...data },
    ttl: ttls.ttl,
    maxTtl: ttls.maxTtl,
    renewable: true,
    warnings: ttls.warnings,
  });
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
  pending: PendingTokenWal,
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
async function checkedExpiry(authApi: PachdAuthApi, pending: PendingTokenWal, token: string): Promise<Date> {
  const identity = await authApi.identify(token);
  if (identity.expiresAt !== null) return identity.expiresAt;
  throw codedError(
    502,
    `pachd at ${pending.pachd_address} stored the token for ${pending.subject} without an expiry (its clock ` +
      "runs ahead of this host's by about the token's lifetime); the token is revoked again",
  );
}

/** The WAL entry that covers one issuance from before pachd is asked until Vault holds the lease. */
class IssuanceJournal {
  private wal: WalEntry<PendingTokenWal> | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly storage: Storage,
    private readonly config: EngineConfig,
    public entry: PendingTokenWal,
  ) {}

  async open(): Promise<void> {
    this.wal = await putWal(this.storage, PENDING_TOKEN_WAL, this.entry);
  }

  /** Journals the value pachd generated. */
  async record(token: string): Promise<void> {
    this.entry = { ...this.entry, token };
    this.wal = await updateWal(this.storage, this.required(), this.entry);
  }

  /** The issuance ended with nothing at pachd to cover. */
  async close(): Promise<void> {
    await deleteWal(this.storage, this.required().id);
  }

  /** The host holds the lease now: the journal is done, unless the storage refuses to let go. */
  async release(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.close();
        return;
      } catch (error) {
        if (attempt < RELEASE_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, RELEASE_RETRY_MS * attempt));
          continue;
        }
        // Left in place, the entry makes the rollback revoke a token Vault holds a lease for:
        // the safe way to fail.
        this.engine.logger.error(
          'could not release the journal of an issued token; the rollback tick will revoke the token',
          {
            subject: this.entry.subject,
            error: (error as Error).message,
          },
        );
        return;
      }
    }
  }

  /**
   * Nobody will receive the token: revoke it now (and take a dynamic robot apart), or leave the
   * entry for the rollback tick. `keepEntry`: the rollback repeats the clean-up later, for
   * calls that may still land at pachd after this one.
   */
  async abandon(token: string | undefined, options: { keepEntry?: boolean } = {}): Promise<void> {
    const grants = this.entry.role_bindings;
    try {
      // The configuration now in force: a rotation since the issuance began retired its admin token.
      const config = (await this.engine.configs.load(this.storage).catch(() => undefined)) ?? this.config;
      if (grants !== undefined) {
        await removeDynamicRobot(this.engine, this.storage, config, { ...this.entry, grants, token });
      } else if (token !== undefined) {
        await revokeAtHome(this.engine, this.storage, config, this.entry, token);
      }
    } catch (error) {
      this.engine.logger.error('could not revoke a token whose issuance failed; the rollback tick retries', {
        subject: this.entry.subject,
        ...(token === undefined ? {} : { fingerprint: tokenFingerprint(token) }),
        error: (error as Error).message,
      });
      return;
    }
    if (!options.keepEntry) await this.close().catch(() => undefined);
  }

  private required(): WalEntry<PendingTokenWal> {
    if (this.wal === undefined) throw new Error('the issuance journal was not opened');
    return this.wal;
  }
}
