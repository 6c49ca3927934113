import { readOnlyStorage } from '../../sdk/errors';
import { ReplicationState, walWritable } from '../../sdk/system-view';
import type { Engine } from './engine';

/**
 * Whether this node may rotate what the mount holds (the admin token, static robots' tokens): the
 * active node of a cluster that may write the mount's replicated storage. Performance standbys get
 * no rollback ticks, but say so anyway; a DR secondary serves nothing; a performance secondary
 * cannot write replicated storage, where the configuration and the static roles of a mount that is
 * not local live (its primary rotates them).
 */
export async function mayRotateHere(engine: Engine): Promise<boolean> {
  const state = await engine.system.replicationState();
  if (!walWritable(state)) return false;
  if ((state & ReplicationState.performanceSecondary) !== 0 && !(await engine.system.localMount())) return false;
  return true;
}

/**
 * Refuses, with Vault's read-only error, a request whose change this node could not store (a
 * rotation, a static role's write or delete): checked before pachd is asked anything, so a node
 * that cannot write makes no token there before the store fails. Vault then forwards the request
 * to the node that can.
 */
export async function requireRotatableHere(engine: Engine): Promise<void> {
  if (!(await mayRotateHere(engine))) throw readOnlyStorage();
}
