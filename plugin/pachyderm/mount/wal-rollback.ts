/**
 * @file
 * What the rollback tick does with WAL entries that outlived their request. An entry is left
 * alone until `WAL_ROLLBACK_MIN_AGE_MS` old: twice as long as any request spends on pachd
 * (MAX_REQUEST_BUDGET_MS), so a call of the interrupted request cannot land at pachd after the
 * rollback has looked for its token. It is Vault's own default.
 *
 * Each kind of entry is rolled back by the module that writes it (the issuance journal, the admin
 * token rotation, the admin token's retirement); this module only hands an entry to its kind's.
 */

import type { Request } from '../../sdk/logical';
import type { WalEntry } from '../../sdk/wal';
import type { Engine } from './engine';

export const WAL_ROLLBACK_MIN_AGE_MS = 10 * 60 * 1000;

/** One kind of WAL entry and its rollback, defined by the module that writes such entries. */
export interface WalKind {
  readonly kind: string;
  rollback(engine: Engine, request: Request, entry: WalEntry<unknown>): Promise<void>;
}

/** A kind whose entries hold `T`, as its owner wrote them. */
export function walKind<T>(
  kind: string,
  rollback: (engine: Engine, request: Request, entry: WalEntry<T>) => Promise<void>,
): WalKind {
  return { kind, rollback: (engine, request, entry) => rollback(engine, request, entry as WalEntry<T>) };
}

export function walRollback(
  engine: Engine,
  kinds: readonly WalKind[],
): (request: Request, entry: WalEntry) => Promise<void> {
  const byKind = new Map(kinds.map((kind) => [kind.kind, kind]));
  return async (request, entry) => {
    const owner = byKind.get(entry.kind);
    if (owner === undefined) {
      // Written by a newer release (the plugin was downgraded): kept for that release to finish.
      throw new Error(`WAL entry of unknown kind ${JSON.stringify(entry.kind)} kept: a newer release wrote it`);
    }
    return owner.rollback(engine, request, entry);
  };
}
