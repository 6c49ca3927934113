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
import { dateFromWire, dateToWire } from '../../sdk/translation';
import type { WireTimestamp } from '../../sdk/protos';
import { pachdDefinitions } from './protos';
import { generatePachdToken, hashPachdToken } from './token';

/**
 * pachd 2.x (`auth_v2.API`): no per-user minting and no extension. Users get a token this
 * engine generates and installs with RestoreAuthToken; robots get one from GetRobotToken.
 * Tokens are cut at their final expiry up front; renewing a lease never touches pachd.
 */
const service = pachdDefinitions.service('auth_v2.API');
const calls = {
  whoAmI: unaryMethod<object, { username: string; expiration: WireTimestamp | null }>(service, 'WhoAmI'),
  getPermissions: unaryMethod<{ resource: { type: number; name: string } }, { permissions: number[]; roles: string[] }>(
    service,
    'GetPermissions',
  ),
  getRobotToken: unaryMethod<{ robot: string; ttl: number }, { token: string }>(service, 'GetRobotToken'),
  restoreAuthToken: unaryMethod<
    { token: { subject: string; hashed_token: string; expiration: WireTimestamp } },
    object
  >(service, 'RestoreAuthToken'),
  revokeAuthToken: unaryMethod<{ token: string }, { number: string }>(service, 'RevokeAuthToken'),
  rotateRootToken: unaryMethod<{ root_token: string }, { root_token: string }>(service, 'RotateRootToken'),
};

const RESOURCE_CLUSTER = 1;
const PERMISSION = {
  restoreToken: 113,
  getRobotToken: 139,
} as const;

export class PachdAuthV2 implements PachdAuthority {
  readonly generation = 2;

  constructor(readonly connection: PachdConnection) {}

  async identify(token: string): Promise<TokenIdentity> {
    const reply = await this.connection.call(calls.whoAmI, {}, token);
    return { subject: reply.username, expiresAt: reply.expiration ? dateFromWire(reply.expiration) : null };
  }

  async verifyAdmin(adminToken: string): Promise<AdminIdentity> {
    const identity = await this.identify(adminToken);
    const reply = await this.connection.call(
      calls.getPermissions,
      { resource: { type: RESOURCE_CLUSTER, name: '' } },
      adminToken,
    );
    const users = reply.permissions.includes(PERMISSION.restoreToken);
    const robots = reply.permissions.includes(PERMISSION.getRobotToken);
    return {
      ...identity,
      canMint: { users, robots },
      shortfall:
        users || robots
          ? undefined
          : `${identity.subject} holds neither CLUSTER_AUTH_RESTORE_TOKEN (clusterAdmin, to issue user tokens) ` +
            'nor CLUSTER_AUTH_GET_ROBOT_TOKEN (robotUser, to issue robot tokens) on the cluster',
    };
  }

  prepareToken(subject: string): string | undefined {
    return subject.startsWith('robot:') ? undefined : generatePachdToken();
  }

  async mint(request: MintRequest): Promise<MintedToken> {
    const expiresAt = new Date(Date.now() + request.lifetimeSeconds * 1000);
    if (request.subject.startsWith('robot:')) {
      const reply = await this.connection.call(
        calls.getRobotToken,
        { robot: request.subject.slice('robot:'.length), ttl: request.lifetimeSeconds },
        request.adminToken,
      );
      return { token: reply.token, subject: request.subject, expiresAt };
    }
    const token = request.preparedToken;
    if (token === undefined) throw new Error(`a token must be prepared to mint for ${request.subject}`);
    await this.connection.call(
      calls.restoreAuthToken,
      { token: { subject: request.subject, hashed_token: hashPachdToken(token), expiration: dateToWire(expiresAt) } },
      request.adminToken,
    );
    return { token, subject: request.subject, expiresAt };
  }

  async extend(): Promise<boolean> {
    throw new Error('pachd 2.x has no way to extend a token');
  }

  async revoke(adminToken: string, token: string): Promise<void> {
    // Unknown tokens are not an error here: pachd answers with zero rows deleted (2.5+).
    await this.connection.call(calls.revokeAuthToken, { token }, adminToken);
  }

  async revokeAsItself(token: string): Promise<void> {
    try {
      await this.connection.call(calls.revokeAuthToken, { token }, token);
    } catch (error) {
      if (error instanceof PachdError && (error.failure === 'unauthenticated' || error.failure === 'token-not-found')) {
        return;
      }
      throw error;
    }
  }

  async rotateAdmin(
    adminToken: string,
    identity: TokenIdentity,
    lifetimeSeconds: number | null,
    journal: (preparedToken: string) => Promise<void>,
  ): Promise<MintedToken> {
    if (identity.subject === 'pach:root') {
      // Installs our value as the only root token, deleting the old ones in the same transaction.
      const rootToken = generatePachdToken();
      await journal(rootToken);
      const reply = await this.connection.call(calls.rotateRootToken, { root_token: rootToken }, adminToken);
      return { token: reply.root_token || rootToken, subject: identity.subject, expiresAt: null };
    }
    if (identity.subject.startsWith('robot:')) {
      const reply = await this.connection.call(
        calls.getRobotToken,
        { robot: identity.subject.slice('robot:'.length), ttl: lifetimeSeconds ?? 0 },
        adminToken,
      );
      return {
        token: reply.token,
        subject: identity.subject,
        expiresAt: lifetimeSeconds === null ? null : new Date(Date.now() + lifetimeSeconds * 1000),
      };
    }
    const token = generatePachdToken();
    await journal(token);
    const expiresAt = lifetimeSeconds === null ? null : new Date(Date.now() + lifetimeSeconds * 1000);
    await this.connection.call(
      calls.restoreAuthToken,
      {
        token: {
          subject: identity.subject,
          hashed_token: hashPachdToken(token),
          ...(expiresAt === null ? {} : { expiration: dateToWire(expiresAt) }),
        } as { subject: string; hashed_token: string; expiration: WireTimestamp },
      },
      adminToken,
    );
    return { token, subject: identity.subject, expiresAt };
  }
}
