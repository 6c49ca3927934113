import { unaryMethod } from '../../goplugin/grpc-call';
import type {
  AdminIdentity,
  MintedToken,
  MintRequest,
  PachdAuthority,
  TokenIdentity,
} from './authority';
import type { PachdConnection } from './connection';
import { PachdError } from './errors';
import { pachdDefinitions } from './protos';

/** pachd 1.x (`auth.API`): tokens minted by GetAuthToken and extended by ExtendAuthToken. */
const service = pachdDefinitions.service('auth.API');
const calls = {
  whoAmI: unaryMethod<object, { username: string; is_admin: boolean; ttl: string }>(service, 'WhoAmI'),
  getAuthToken: unaryMethod<{ subject: string; ttl: number }, { token: string; subject: string }>(service, 'GetAuthToken'),
  extendAuthToken: unaryMethod<{ token: string; ttl: number }, object>(service, 'ExtendAuthToken'),
  revokeAuthToken: unaryMethod<{ token: string }, object>(service, 'RevokeAuthToken'),
};

export class PachdAuthV1 implements PachdAuthority {
  readonly generation = 1;

  constructor(readonly connection: PachdConnection) {}

  async identify(token: string): Promise<TokenIdentity> {
    const reply = await this.connection.call(calls.whoAmI, {}, token);
    return { subject: reply.username, expiresAt: expiryFromTtl(reply.ttl) };
  }

  async verifyAdmin(adminToken: string): Promise<AdminIdentity> {
    const reply = await this.connection.call(calls.whoAmI, {}, adminToken);
    return {
      subject: reply.username,
      expiresAt: expiryFromTtl(reply.ttl),
      canMint: { users: reply.is_admin, robots: reply.is_admin },
      shortfall: reply.is_admin ? undefined : `${reply.username} is not a pachd admin (cluster role SUPER)`,
    };
  }

  prepareToken(): undefined {
    return undefined;
  }

  async mint(request: MintRequest): Promise<MintedToken> {
    const reply = await this.connection.call(
      calls.getAuthToken,
      { subject: request.subject, ttl: request.lifetimeSeconds },
      request.adminToken,
    );
    return {
      token: reply.token,
      subject: reply.subject || request.subject,
      expiresAt: new Date(Date.now() + request.lifetimeSeconds * 1000),
    };
  }

  async extend(adminToken: string, token: string, lifetimeSeconds: number): Promise<boolean> {
    try {
      await this.connection.call(calls.extendAuthToken, { token, ttl: lifetimeSeconds }, adminToken);
      return true;
    } catch (error) {
      // ErrTooShortTTL: the token already lives longer than asked, which is all renew needs.
      if (error instanceof PachdError && error.detail.includes("shorter than token's existing TTL")) return false;
      throw error;
    }
  }

  async revoke(adminToken: string, token: string): Promise<void> {
    try {
      await this.connection.call(calls.revokeAuthToken, { token }, adminToken);
    } catch (error) {
      // 1.13.3 and later refuse to revoke a token that is already gone; earlier ones succeed.
      if (error instanceof PachdError && error.failure === 'token-not-found') return;
      throw error;
    }
  }

  async revokeAsItself(token: string): Promise<void> {
    try {
      await this.connection.call(calls.revokeAuthToken, { token }, token);
    } catch (error) {
      // The token cannot authenticate: it is expired, revoked or unknown, which is the goal.
      if (error instanceof PachdError && (error.failure === 'unauthenticated' || error.failure === 'token-not-found')) {
        return;
      }
      throw error;
    }
  }

  async rotateAdmin(adminToken: string, identity: TokenIdentity, lifetimeSeconds: number | null): Promise<MintedToken> {
    // pachd chooses the value here, so there is nothing to journal before the call.
    if (identity.subject.startsWith('pach:')) {
      throw new PachdError(
        'invalid-input',
        `pachd 1.x cannot mint tokens for ${identity.subject}; to rotate the admin credential, give a dedicated ` +
          'subject (for example robot:vault) the cluster role SUPER and configure its token instead',
        this.connection.address.canonical,
        'auth.API/GetAuthToken',
        undefined,
        'GetAuthTokenRequest.Subject is invalid',
      );
    }
    // A negative TTL asks an admin's pachd (1.11+) for a token that never expires.
    const ttl = lifetimeSeconds ?? -1;
    const reply = await this.connection.call(calls.getAuthToken, { subject: identity.subject, ttl }, adminToken);
    return {
      token: reply.token,
      subject: reply.subject || identity.subject,
      expiresAt: lifetimeSeconds === null ? null : new Date(Date.now() + lifetimeSeconds * 1000),
    };
  }
}

/** WhoAmI's ttl: remaining seconds, -1 for a token that never expires. */
function expiryFromTtl(ttl: string): Date | null {
  const seconds = Number(ttl);
  return seconds < 0 ? null : new Date(Date.now() + seconds * 1000);
}
