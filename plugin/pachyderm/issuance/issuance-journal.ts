/**
 * @file
 * The issuance journal: the WAL entry that covers one issuance from before pachd is asked until
 * Vault holds the lease (issue-token.ts), and what the rollback tick does with an entry whose
 * request did not live to release it: revoke its token, or take its dynamic robot apart.
 *
 * In the common case (the engine picks the value, no dynamic robot) issuances that start while
 * another's entry is being written share one record, written once that write completes
 * (`sdk/wal-batches.ts`): two storage exchanges per record instead of per issuance. Each is
 * still journaled before pachd sees its token. An issuance whose entry must change later (pachd
 * picks the value) or that grants bindings keeps an entry of its own.
 */

import type { Request } from '../../sdk/logical';
import type { Storage } from '../../sdk/storage';
import { withStorageRetries } from '../../sdk/storage-retries';
import { deleteWal, putWal, updateWal, type WalEntry } from '../../sdk/wal';
import type { WalBatchMember, WalBatchRecord, WalMemberOutcome } from '../../sdk/wal-batches';
import type { EngineConfig } from '../mount/config';
import type { Engine } from '../mount/engine';
import type { TokenHome } from '../mount/pachd-clients';
import { tokenFingerprint } from '../pachd/token-material';
import { removeDynamicRobot } from '../roles/robot-bindings';
import { bindingsFromStored, type RoleBinding } from '../roles/role-bindings';
import { pastPachdExpiry, revokeAtHome } from '../mount/token-revocation';
import { walKind, type WalKind } from '../mount/wal-rollback';

/** The kind of an issuance's WAL entry (its stored name predates the word journal). */
export const ISSUANCE_WAL = 'pachd-token';

/** The kind of a record of several issuances' entries, its data a `WalBatchRecord<IssuanceWal>`. */
export const ISSUANCE_BATCH_WAL = 'pachd-tokens';

/** An issuance in progress: the token's value once known (before pachd sees it when the engine picks it). */
export interface IssuanceWal extends TokenHome {
  subject: string;
  /** When pachd expires the token, if it was minted. */
  expires_at: string;
  token?: string;
  /** A dynamic robot's bindings, journaled before any is granted. */
  role_bindings?: RoleBinding[];
}

/** The WAL entry that covers one issuance from before pachd is asked until Vault holds the lease. */
export class IssuanceJournal {
  private wal: WalEntry<IssuanceWal> | undefined;
  /** Where the entry is one member of a shared record. */
  private member: WalBatchMember | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly storage: Storage,
    private readonly config: EngineConfig,
    public entry: IssuanceWal,
  ) {}

  /** Resolves once the entry is stored: only then may pachd see the token. */
  async open(): Promise<void> {
    // Only an entry that never changes and that the rollback handles alone can share a record.
    if (this.entry.token !== undefined && this.entry.role_bindings === undefined) {
      this.member = await this.engine.issuanceBatches.join(this.storage, this.entry);
    } else {
      this.wal = await putWal(this.storage, ISSUANCE_WAL, this.entry);
    }
  }

  /** Journals the value pachd generated. */
  async record(token: string): Promise<void> {
    this.entry = { ...this.entry, token };
    this.wal = await updateWal(this.storage, this.required(), this.entry);
  }

  /** The issuance ended with nothing at pachd to cover. */
  async close(): Promise<void> {
    if (this.member !== undefined) return this.settle('closed');
    await deleteWal(this.storage, this.required().id);
  }

  /** What the entry covers may still appear at pachd: the entry stays for the rollback. */
  async keep(): Promise<void> {
    if (this.member !== undefined) await this.settle('kept');
  }

  /** The host holds the lease now: the journal is done, unless the storage refuses to let go. */
  async release(): Promise<void> {
    if (this.member !== undefined) return this.settle('released');
    try {
      await withStorageRetries(() => this.close());
    } catch (error) {
      // Left in place, the entry makes the rollback revoke a token Vault holds a lease for:
      // the safe way to fail.
      this.engine.logger.error(
        'could not release the journal of an issued token; the rollback tick will revoke the token',
        {
          subject: this.entry.subject,
          error: (error as Error).message,
        },
      );
    }
  }

  /**
   * Nobody will receive the token: revoke it now (and take a dynamic robot apart), or leave the
   * entry for the rollback tick. `keepEntry`: the rollback repeats the clean-up later, for
   * calls that may still land at pachd after this one.
   */
  async abandon(token: string | undefined, options: { keepEntry?: boolean } = {}): Promise<void> {
    const bindings = this.entry.role_bindings;
    try {
      // The configuration now in force: a rotation since the issuance began retired its admin token,
      // and a deleted configuration has none to lend (the token then revokes itself, as in the
      // rollback). Only when storage cannot say is the issuance's own configuration used.
      const config = await this.engine.configs.load(this.storage).catch(() => this.config);
      if (bindings !== undefined) {
        await removeDynamicRobot(this.engine, this.storage, config, { ...this.entry, bindings, token });
      } else if (token !== undefined) {
        await revokeAtHome(this.engine, this.storage, config, this.entry, token);
      }
    } catch (error) {
      this.engine.logger.error('could not revoke a token whose issuance failed; the rollback tick retries', {
        subject: this.entry.subject,
        ...(token === undefined ? {} : { fingerprint: tokenFingerprint(token) }),
        error: (error as Error).message,
      });
      await this.keep();
      return;
    }
    if (options.keepEntry) await this.keep();
    else await this.close().catch(() => undefined);
  }

  /** A shared record's member settles with the storage of its own request, not the writer's. */
  private settle(outcome: WalMemberOutcome): Promise<void> {
    if (this.member === undefined) throw new Error('the issuance journal is not a member of a record');
    return this.member.settle(outcome, this.storage);
  }

  private required(): WalEntry<IssuanceWal> {
    if (this.wal === undefined) throw new Error('the issuance journal was not opened');
    return this.wal;
  }
}

/** The rollback of an issuance the process did not live to finish. */
export const issuanceRollback: WalKind = walKind(ISSUANCE_WAL, (engine, request, entry: WalEntry<IssuanceWal>) =>
  rollBackIssuance(engine, request, entry.data, entry.id),
);

/**
 * The rollback of a record of several issuances: each member as an entry of its own. Members that
 * fail stay, in the record rewritten without the others, for the next tick.
 */
export const issuanceBatchRollback: WalKind = walKind(ISSUANCE_BATCH_WAL, rollBackIssuances);

async function rollBackIssuances(
  engine: Engine,
  request: Request,
  entry: WalEntry<WalBatchRecord<IssuanceWal>>,
): Promise<void> {
  const members = entry.data.members;
  if (!Array.isArray(members)) throw new Error('an issuance journal record without a list of members; kept');
  const failed: IssuanceWal[] = [];
  let firstError: unknown;
  for (const pending of members) {
    try {
      await rollBackIssuance(engine, request, pending, entry.id);
    } catch (error) {
      failed.push(pending);
      firstError ??= error;
    }
  }
  if (failed.length === 0) return;
  if (failed.length < members.length) await updateWal(request.storage, entry, { members: failed });
  throw new Error(
    `${failed.length} of ${members.length} interrupted issuances of the record could not be rolled back: ` +
      (firstError instanceof Error ? firstError.message : String(firstError)),
  );
}

async function rollBackIssuance(engine: Engine, request: Request, pending: IssuanceWal, walId: string): Promise<void> {
  const log = { subject: pending.subject, wal_id: walId };
  if (pending.role_bindings !== undefined) return removeInterruptedRobot(engine, request, pending, walId);
  if (pastPachdExpiry(pending.expires_at)) {
    engine.logger.debug("an interrupted issuance is past its token's pachd expiry; nothing to revoke", log);
    return;
  }
  if (pending.token === undefined) {
    engine.logger.warn(
      'an issuance was interrupted before pachd answered, and pachd picks token values here: if it issued one, ' +
        'nobody holds it and it lives until its pachd expiry',
      { ...log, expires_at: pending.expires_at },
    );
    return;
  }
  const config = await engine.configs.load(request.storage);
  const outcome = await revokeAtHome(engine, request.storage, config, pending, pending.token, request.deadline);
  const fingerprint = tokenFingerprint(pending.token);
  switch (outcome) {
    case 'revoked':
      engine.logger.warn('revoked a token whose issuance was interrupted', { ...log, fingerprint });
      break;
    case 'absent':
      engine.logger.info('an interrupted issuance never created its token at pachd; nothing was left to revoke', {
        ...log,
        fingerprint,
      });
      break;
    case 'unknown':
      engine.logger.warn(
        'revoked the token of an interrupted issuance, if pachd had created it (this pachd does not say)',
        {
          ...log,
          fingerprint,
        },
      );
      break;
  }
}

/**
 * A dynamic robot whose creation was interrupted: its bindings may exist whether or not a token
 * was minted, and whether or not the token has expired since, so it is always taken apart.
 */
async function removeInterruptedRobot(
  engine: Engine,
  request: Request,
  pending: IssuanceWal,
  walId: string,
): Promise<void> {
  const bindings = bindingsFromStored(pending.role_bindings);
  if (bindings === undefined) {
    engine.logger.error('dropping the journal of an interrupted dynamic robot whose bindings are unreadable', {
      subject: pending.subject,
      wal_id: walId,
    });
    return;
  }
  const config = await engine.configs.load(request.storage);
  const removal = await removeDynamicRobot(
    engine,
    request.storage,
    config,
    { ...pending, bindings, token: pending.token },
    request.deadline,
  );
  engine.logger.warn('took apart a dynamic robot whose creation was interrupted', {
    subject: pending.subject,
    wal_id: walId,
    tokens_revoked: removal.tokensRevoked,
    bindings_removed: removal.bindingsRemoved,
    resources_gone: removal.resourcesGone,
  });
}
