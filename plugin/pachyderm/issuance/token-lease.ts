/**
 * @file
 * What the lease behind an issued pachd token holds: everything renew and revoke need
 * (secret-pachd-token.ts), so both keep working after the role, or even the configuration,
 * changed or went away.
 */

import type { TokenHome } from '../mount/pachd-clients';
import type { RoleBinding } from '../roles/role-bindings';

export const TOKEN_SECRET_TYPE = 'pachyderm_token';

export interface TokenLeaseData extends TokenHome {
  token: string;
  subject: string;
  /** The lease's base TTL: what a renew without increment asks for. */
  ttl_seconds: number;
  max_ttl_seconds: number;
  /** When pachd expires the token (ISO), null when it never does. */
  token_expires_at: string | null;
  /** The role it was issued through, "" for login. */
  role: string;
  source: 'login' | 'creds';
  /** A dynamic robot's bindings, removed with its tokens when the lease ends. */
  role_bindings?: RoleBinding[];
}
