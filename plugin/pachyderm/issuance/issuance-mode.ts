import type { PachdObservation } from '../mount/config';
import { PachdRelease, v1CanRestore } from '../pachd/release';

/**
 * Who picks a new token's value. `restore`: the engine generates it, journals it, and only then
 * installs it at pachd with RestoreAuthToken, so a crash at any point leaves a journal entry that
 * names the token. `pachd-generated`: pachd picks it (GetRobotToken, GetAuthToken) and it is
 * journaled when pachd's answer arrives; a crash in between leaves a token nobody can name, which
 * lives until its pachd expiry. The engine restores wherever pachd lets it.
 */
export type IssuanceMode = 'restore' | 'pachd-generated';

export interface Issuance {
  mode: IssuanceMode;
  /** Whether user (not only robot) tokens can be issued at all. */
  users: boolean;
  /** For operators: why this mode, and what it means. */
  reason: string;
}

export function issuanceOf(observation: PachdObservation): Issuance {
  const who = observation.admin_subject;
  if (observation.generation === 2) {
    if (observation.can_mint_users) {
      return {
        mode: 'restore',
        users: true,
        reason:
          `${who} holds CLUSTER_AUTH_RESTORE_TOKEN: the engine picks every token value and journals it before ` +
          'pachd sees it (RestoreAuthToken), so no crash leaves a token behind that the rollback cannot revoke',
      };
    }
    return {
      mode: 'pachd-generated',
      users: false,
      reason:
        `${who} holds CLUSTER_AUTH_GET_ROBOT_TOKEN but not CLUSTER_AUTH_RESTORE_TOKEN: only robot tokens, generated ` +
        "by pachd (GetRobotToken); a crash between pachd's answer and the journal leaves a token that lives until " +
        `its pachd expiry (max_ttl). Bind clusterAdmin to ${who} to close that window`,
    };
  }
  const release = PachdRelease.parse(observation.pachd_version);
  if (observation.can_mint_users && v1CanRestore(release)) {
    return {
      mode: 'restore',
      users: true,
      reason:
        `pachd ${observation.pachd_version} has RestoreAuthToken: the engine picks every token value and journals it ` +
        'before pachd sees it, so no crash leaves a token behind that the rollback cannot revoke (pachd does not ' +
        'check the prefix of a restored subject: a misspelled identity-provider name gives a token for nobody)',
    };
  }
  return {
    mode: 'pachd-generated',
    users: true,
    reason:
      `pachd ${observation.pachd_version} predates RestoreAuthToken (1.11.9): pachd generates token values ` +
      "(GetAuthToken); a crash between pachd's answer and the journal leaves a token that lives until its pachd " +
      'expiry (ttl plus a few seconds)',
  };
}
