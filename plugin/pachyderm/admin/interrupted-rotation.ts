/**
 * @file
 * What becomes of an admin token rotation whose journal entry outlived it (admin-rotation.ts),
 * from what the configuration holds and what pachd says of the rotation's two tokens. Pure: the
 * caller asks pachd (admin-rotation-rollback.ts) and carries the step out.
 *
 * The one thing pachd cannot say is whether a minting call it has not applied yet never will: a
 * call held at pachd (its database busy, the caller killed mid-call) may still land until its
 * deadline has passed, and then the new token comes alive, or, for RotateRootToken, replaces
 * every root token. Such an entry waits, and no rotation starts beside it (rotation-scheduler.ts,
 * admin-rotation.ts): a second rotation would leave the late token a second live admin token, or
 * have RotateRootToken kill the token it stored. Every other outcome is final once pachd has
 * answered, so it is settled at once, whichever process wrote the entry: a rotation runs as a
 * writer of the configuration, so none of this process's is running while the entry is looked
 * at, and Vault reloads a plugin only under the mount's route lock, which waits for the request
 * running a rotation before the old process is killed and a new one started.
 */

export interface InterruptedRotationFacts {
  /**
   * The rotation's new token (`new`); its old one, at the rotation's pachd and CA (`old`); or
   * neither (the configuration was deleted, rewritten, or moved elsewhere).
   */
  holds: 'new' | 'old' | 'neither';
  /** Whether the new token's value was journaled (where pachd picks it, only once pachd answered). */
  newJournaled: boolean;
  stage: 'minting' | 'revoking-old';
  subject: string;
  /** Whether the minting call may still reach pachd (its deadline, and a margin, are ahead). */
  mayStillLand: boolean;
  /** What pachd says of the new token; asked only when it matters. */
  newWorks?: boolean;
  oldWorks?: boolean;
  /** The configuration holds, at this rotation's pachd, another token that works as pach:root. */
  configuredRootWorks?: boolean;
}

export type InterruptedRotationStep =
  /** The configuration holds the new token: make sure the old one is gone. */
  | 'finish'
  /** The new token works and the old one does not (RotateRootToken swapped them): store the new one. */
  | 'adopt'
  /** Both work and the configuration never switched: revoke the new one, the old one stays. */
  | 'undo'
  /** The minting call may still land: decide later, and start no rotation meanwhile. */
  | 'wait'
  /** No token of this rotation is alive that the engine could act on. */
  | 'forget'
  /** The configuration holds neither: the new token is nobody's. */
  | 'revoke-orphan'
  /** As above, but the new token may be pachd's only root token: it stays, logged. */
  | 'keep-root-orphan';

/** The pachd facts `decide` needs next, or undefined once it has what it needs. */
export function nextQuestion(
  facts: InterruptedRotationFacts,
): 'newWorks' | 'oldWorks' | 'configuredRootWorks' | undefined {
  if (!facts.newJournaled || facts.holds === 'new') return undefined;
  if (facts.newWorks === undefined) return 'newWorks';
  if (!facts.newWorks) return undefined;
  if (facts.holds === 'old' || facts.subject === 'pach:root') {
    if (facts.oldWorks === undefined) return 'oldWorks';
  }
  if (facts.holds === 'neither' && facts.subject === 'pach:root' && !facts.oldWorks) {
    if (facts.configuredRootWorks === undefined) return 'configuredRootWorks';
  }
  return undefined;
}

export function decideInterruptedRotation(facts: InterruptedRotationFacts): InterruptedRotationStep {
  const question = nextQuestion(facts);
  if (question !== undefined) throw new Error(`an interrupted rotation needs pachd's word first (${question})`);
  // Where pachd picks the value and never answered, nobody can name the token; it expires at pachd.
  if (!facts.newJournaled) return 'forget';
  if (facts.holds === 'new') return 'finish';
  if (facts.newWorks !== true) return facts.mayStillLand ? 'wait' : 'forget';
  if (facts.holds === 'old') return facts.oldWorks === true ? 'undo' : 'adopt';
  // A root token the engine minted and no configuration holds goes only while pach:root keeps
  // another that works: pachd's own (the one the operator configured), or the one the
  // configuration holds now. Otherwise it may be the cluster's only root token.
  if (facts.subject === 'pach:root' && facts.oldWorks !== true && facts.configuredRootWorks !== true) {
    return 'keep-root-orphan';
  }
  return 'revoke-orphan';
}
