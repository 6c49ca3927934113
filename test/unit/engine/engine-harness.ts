import { createHash } from 'node:crypto';
import { createPachydermBackend } from '../../../plugin/pachyderm/backend';
import { VaultError } from '../../../plugin/sdk/errors';
import type { Backend } from '../../../plugin/sdk/framework';
import type { Operation, Response, Secret } from '../../../plugin/sdk/logical';
import { InMemoryStorage } from '../../../plugin/sdk/storage';
import { StaticSystemView } from '../../../plugin/sdk/system-view';
import { PachdTestClient } from '../../pachd/pachd-test-client';
import { startPachdStandin, type PachdStandin, type PachdStandinOptions } from '../../pachd/standin';
import { makeRequest, memoryLogger } from '../sdk-helpers';
import type { Logger } from '../../../plugin/goplugin/logger';
import { AfterResponse } from '../../../plugin/sdk/after-response';
import { deleteWal, getWal, listWal, putWal } from '../../../plugin/sdk/wal';
import { WAL_ROLLBACK_MIN_AGE_MS } from '../../../plugin/pachyderm/mount/wal-rollback';

export const HOUR = 3600n * 1_000_000_000n;
export const DAY = 24n * HOUR;

/** How old a WAL entry is when the rollback finds it: past its grace, as Vault's rollback manager would find it. */
const AGED_WAL_MS = WAL_ROLLBACK_MIN_AGE_MS + 60_000;

/** One mount of the engine, in process, against a pachd stand-in. */
export class EngineHarness {
  readonly system = new StaticSystemView({ defaultLeaseTtl: HOUR, maxLeaseTtl: 10n * DAY });
  readonly logLines: string[];
  readonly backend: Backend;
  /** Every response and error text this harness saw, to check for leaked secrets. */
  readonly transcript: string[] = [];
  private readonly client: PachdTestClient;
  private readonly logger: Logger;

  private constructor(
    readonly pachd: PachdStandin,
    private readonly ownsPachd = true,
    readonly storage: InMemoryStorage = new InMemoryStorage(),
  ) {
    const { logger, lines, redactor } = memoryLogger();
    this.logger = logger;
    this.logLines = lines;
    this.backend = createPachydermBackend({
      storage: this.storage,
      system: this.system,
      logger,
      redactor,
      config: {},
      backendUuid: 'test-mount',
    });
    this.client = new PachdTestClient(pachd.address);
  }

  /** `storage`: the mount's storage, for a test that watches or slows it. */
  static async start(options: PachdStandinOptions, storage?: InMemoryStorage): Promise<EngineHarness> {
    return new EngineHarness(await startPachdStandin({ controlListen: null, ...options }), true, storage);
  }

  /** Another mount in the same process, against the same stand-in (which its first harness stops). */
  static beside(other: EngineHarness, storage?: InMemoryStorage): EngineHarness {
    return new EngineHarness(other.pachd, false, storage);
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.backend.cleanup();
    if (this.ownsPachd) await this.pachd.stop();
  }

  async request(
    operation: Operation,
    path: string,
    data: Record<string, unknown> = {},
    extra: {
      secret?: Secret;
      entityId?: string;
      cancelled?: () => boolean;
      /** The host gives up just as the answer is ready: it never receives it. */
      cancelledOnceAnswered?: boolean;
      deadline?: number;
    } = {},
  ): Promise<Response | undefined> {
    // As the plugin server does: the request's after-response work runs once the answer is out,
    // told whether the host still wanted it.
    const after = new AfterResponse();
    let answered = false;
    const { cancelledOnceAnswered, ...options } = extra;
    const cancelled = options.cancelled ?? (() => cancelledOnceAnswered === true && answered);
    const request = makeRequest(operation, path, {
      storage: this.storage,
      data,
      afterResponse: after,
      ...options,
      cancelled,
    });
    try {
      const response = await this.backend.handleRequest(request);
      answered = true;
      this.transcript.push(
        JSON.stringify(response ?? null, (_key, value: unknown) =>
          typeof value === 'bigint' ? value.toString() : value,
        ),
      );
      await after.settle(!request.cancelled(), this.logger);
      return response;
    } catch (error) {
      this.transcript.push((error as Error).message);
      await after.settle(false, this.logger);
      throw error;
    }
  }

  /** Expects the request to fail and returns the error. */
  async failure(
    operation: Operation,
    path: string,
    data: Record<string, unknown> = {},
    extra = {},
  ): Promise<VaultError> {
    try {
      await this.request(operation, path, data, extra);
    } catch (error) {
      if (error instanceof VaultError) return error;
      throw error;
    }
    throw new Error(`${operation} ${path} succeeded, a failure was expected`);
  }

  async configure(data: Record<string, unknown> = {}): Promise<Response | undefined> {
    return this.request('create', 'config', {
      pachd_address: this.pachd.pachdAddress,
      admin_token: this.pachd.rootToken,
      ...data,
    });
  }

  /** Revokes a lease as Vault does when it ends. */
  async revokeLease(issued: Response | undefined): Promise<Response | undefined> {
    return this.request('revoke', '', {}, { secret: leaseOf(issued) });
  }

  /** Runs the rollback tick; `immediate` acts on entries of any age. */
  async rollback(options: { immediate?: boolean } = {}): Promise<Response | undefined> {
    return this.request('rollback', '', options.immediate === true ? { immediate: true } : {});
  }

  /** A WAL entry as a request the process did not live to finish left it, old enough to roll back. */
  async journalAged<T>(kind: string, data: T): Promise<void> {
    await putWal(this.storage, kind, data, Date.now() - AGED_WAL_MS);
  }

  /** Makes every WAL entry old enough to roll back. */
  async ageWal(): Promise<void> {
    for (const id of await listWal(this.storage)) {
      const entry = await getWal(this.storage, id);
      if (entry === undefined) continue;
      await deleteWal(this.storage, entry.id);
      await this.journalAged(entry.kind, entry.data);
    }
  }

  /** Who pachd says a token belongs to; undefined when pachd rejects it. */
  async whoAmI(token: string): Promise<string | undefined> {
    const service = this.pachd.generation === 1 ? 'auth.API' : 'auth_v2.API';
    try {
      const reply = await this.client.call<{ username: string }>(service, 'WhoAmI', {}, { token });
      return reply.username;
    } catch {
      return undefined;
    }
  }

  liveToken(token: string) {
    const hash = createHash('sha256').update(token).digest('hex');
    return this.pachd.control.listTokens().find((view) => view.hash === hash && !view.expired);
  }

  /** Tokens at pachd other than those the test set up itself. */
  liveTokensExcept(known: readonly string[]) {
    const knownHashes = new Set(known.map((token) => createHash('sha256').update(token).digest('hex')));
    return this.pachd.control.listTokens().filter((view) => !view.expired && !knownHashes.has(view.hash));
  }
}

/** The secret a lease response carries, as Vault hands it back on renew and revoke. */
export function leaseOf(response: Response | undefined, issueTime = new Date(), increment = 0n): Secret {
  const secret = response?.secret;
  if (secret === undefined) throw new Error('response carries no lease');
  return {
    leaseOptions: { ttl: secret.ttl, maxTtl: secret.maxTtl, renewable: secret.renewable, increment, issueTime },
    internalData: secret.internalData,
    leaseId: '',
  };
}
