// The 2.x stand-in (auth_v2.API, versionpb_v2.API) through real gRPC clients.
import * as grpc from '@grpc/grpc-js';

import { PachdTestClient, sha256Hex } from './pachd-test-client';
import { type PachdStandin, type PachdStandinOptions, startPachdStandin } from './standin';

const AUTH = 'auth_v2.API';
const VERSION = 'versionpb_v2.API';
const BAD_TOKEN = 'provided auth token is corrupted or has expired (try logging in again)';
const DAY_SECONDS = 24 * 60 * 60;
const PERMISSION_RESTORE_TOKEN = 113;
const PERMISSION_GET_ROBOT_TOKEN = 139;

interface Timestamp {
  seconds: string;
  nanos: number;
}
interface WhoAmI {
  username: string;
  expiration: Timestamp | null;
}
interface TokenInfo {
  subject: string;
  expiration: Timestamp | null;
  hashed_token: string;
}

interface Harness {
  standin: PachdStandin;
  client: PachdTestClient;
  root: string;
  robotToken(robot: string, ttl: number): Promise<string>;
  whoAmI(token: string): Promise<WhoAmI>;
  nowSeconds(): number;
}

const running: Harness[] = [];

async function harness(options: PachdStandinOptions = {}): Promise<Harness> {
  const standin = await startPachdStandin({ generation: 2, ...options });
  const client = new PachdTestClient(standin.address);
  const root = standin.rootToken;
  const created: Harness = {
    standin,
    client,
    root,
    robotToken: async (robot, ttl) =>
      (await client.call<{ token: string }>(AUTH, 'GetRobotToken', { robot, ttl }, { token: root })).token,
    whoAmI: (token) => client.call<WhoAmI>(AUTH, 'WhoAmI', {}, { token }),
    nowSeconds: () => standin.control.clock().nowMs / 1000,
  };
  running.push(created);
  return created;
}

afterEach(async () => {
  for (const { standin, client } of running.splice(0)) {
    client.close();
    await standin.stop();
  }
});

function notAuthorizedText(principal: string, permission: string): string {
  return (
    `${principal} is not authorized to perform this operation - needs permissions [${permission}] ` +
    'on CLUSTER . Run `pachctl auth roles-for-permission` to find roles that grant a given permission.'
  );
}

describe('2.x bootstrap and version', () => {
  it('starts activated with a non-expiring pach:root token bound to clusterAdmin', async () => {
    const { standin, root, whoAmI } = await harness();
    expect(root).toMatch(/^[0-9a-f]{32}$/);
    expect(await whoAmI(root)).toEqual({ username: 'pach:root', expiration: null });
    expect(standin.control.clusterRoleBindings()['pach:root']).toEqual(['clusterAdmin']);
  });

  it('reports the emulated version, 2.12.0 by default', async () => {
    const { client } = await harness();
    const version = await client.call<Record<string, unknown>>(VERSION, 'GetVersion', {});
    expect([version['major'], version['minor'], version['micro'], version['additional']]).toEqual([2, 12, 0, '']);
  });

  it('refuses a second Activate', async () => {
    const { client } = await harness();
    const again = await client.failure(AUTH, 'Activate', {});
    expect([again.code, again.details]).toEqual([grpc.status.UNIMPLEMENTED, 'the auth service is already activated']);
  });
});

describe('2.x GetRobotToken', () => {
  it('mints a robot token whose WhoAmI shows subject and expiry', async () => {
    const { robotToken, whoAmI, nowSeconds } = await harness();
    const before = nowSeconds();
    const token = await robotToken('ci', 600);
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    const me = await whoAmI(token);
    expect(me.username).toBe('robot:ci');
    const expiresAt = Number(me.expiration?.seconds);
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(before) + 599);
    expect(expiresAt).toBeLessThanOrEqual(Math.ceil(nowSeconds()) + 600);
  });

  it('strips one robot: prefix, rejects colons, and treats ttl <= 0 as no expiry', async () => {
    const { client, root, robotToken, whoAmI } = await harness();
    expect((await whoAmI(await robotToken('robot:deploy', 60))).username).toBe('robot:deploy');
    const colon = await client.failure(AUTH, 'GetRobotToken', { robot: 'robot:a:b', ttl: 60 }, { token: root });
    expect([colon.code, colon.details]).toEqual([grpc.status.UNKNOWN, "robot names cannot contain colons (':')"]);
    expect((await whoAmI(await robotToken('forever', 0))).expiration).toBeNull();
    expect((await whoAmI(await robotToken('forever', -5))).expiration).toBeNull();
  });

  it('needs CLUSTER_AUTH_GET_ROBOT_TOKEN: a robotUser robot may, a plain user may not', async () => {
    const { standin, client } = await harness();
    const vault = standin.control.createToken({ subject: 'robot:vault', roles: ['robotUser'] });
    const minted = await client.call<{ token: string }>(
      AUTH,
      'GetRobotToken',
      { robot: 'x', ttl: 60 },
      { token: vault.token },
    );
    expect(minted.token).toMatch(/^[0-9a-f]{32}$/);
    const alice = standin.control.createToken({ subject: 'user:alice@example.com' });
    const denied = await client.failure(AUTH, 'GetRobotToken', { robot: 'x' }, { token: alice.token });
    expect([denied.code, denied.details]).toEqual([
      grpc.status.PERMISSION_DENIED,
      notAuthorizedText('user:alice@example.com', 'CLUSTER_AUTH_GET_ROBOT_TOKEN'),
    ]);
  });

  it('refuses subjects longer than its token table holds: 128 characters, 64 before 2.5.4', async () => {
    for (const [pachdVersion, limit] of [
      ['2.12.0', 128],
      ['2.4.0', 64],
    ] as const) {
      const { client, root, robotToken, whoAmI } = await harness({ pachdVersion });
      const fits = 'r'.repeat(limit - 'robot:'.length);
      expect((await whoAmI(await robotToken(fits, 60))).username).toBe(`robot:${fits}`);
      const long = await client.failure(AUTH, 'GetRobotToken', { robot: `${fits}x`, ttl: 60 }, { token: root });
      expect([long.code, long.details]).toEqual([
        grpc.status.UNKNOWN,
        `error getting robot token: ERROR: value too long for type character varying(${limit}) (SQLSTATE 22001)`,
      ]);
    }
  });

  it('reports permission failures as Unknown before 2.7.0', async () => {
    const { standin, client } = await harness({ pachdVersion: '2.6.3' });
    const alice = standin.control.createToken({ subject: 'user:alice@example.com' });
    const denied = await client.failure(AUTH, 'GetRobotToken', { robot: 'x' }, { token: alice.token });
    expect([denied.code, denied.details]).toEqual([
      grpc.status.UNKNOWN,
      notAuthorizedText('user:alice@example.com', 'CLUSTER_AUTH_GET_ROBOT_TOKEN'),
    ]);
  });
});

describe('2.x RestoreAuthToken and ExtractAuthTokens', () => {
  it('restores a user token from its hash, for any subject', async () => {
    const { client, root, whoAmI, nowSeconds } = await harness();
    const plaintext = 'fedcba9876543210fedcba9876543210';
    const expiresAt = Math.floor(nowSeconds()) + 3600;
    const token = {
      subject: 'user:alice@example.com',
      hashed_token: sha256Hex(plaintext),
      expiration: { seconds: expiresAt, nanos: 0 },
    };
    await client.call(AUTH, 'RestoreAuthToken', { token }, { token: root });
    const me = await whoAmI(plaintext);
    expect(me.username).toBe('user:alice@example.com');
    expect(Math.abs(Number(me.expiration?.seconds) - expiresAt)).toBeLessThanOrEqual(1);

    const odd = 'aaaabbbbccccddddaaaabbbbccccdddd';
    await client.call(
      AUTH,
      'RestoreAuthToken',
      { token: { subject: 'pach:sneaky', hashed_token: sha256Hex(odd) } },
      { token: root },
    );
    expect(await whoAmI(odd)).toEqual({ username: 'pach:sneaky', expiration: null });
  });

  it('rejects duplicates, past expirations and a missing token', async () => {
    const { client, root, nowSeconds } = await harness();
    const token = { subject: 'user:bob', hashed_token: sha256Hex('bob-token') };
    await client.call(AUTH, 'RestoreAuthToken', { token }, { token: root });
    const duplicate = await client.failure(AUTH, 'RestoreAuthToken', { token }, { token: root });
    expect(duplicate.code).toBe(grpc.status.UNKNOWN);
    expect(duplicate.details).toContain('error restoring auth token: cannot overwrite existing token with same hash');
    const past = await client.failure(
      AUTH,
      'RestoreAuthToken',
      {
        token: {
          subject: 'user:bob',
          hashed_token: sha256Hex('x'),
          expiration: { seconds: Math.floor(nowSeconds()) - 10, nanos: 0 },
        },
      },
      { token: root },
    );
    expect([past.code, past.details]).toEqual([grpc.status.INTERNAL, 'token expiration is in the past']);
    const missing = await client.failure(AUTH, 'RestoreAuthToken', {}, { token: root });
    expect([missing.code, missing.details]).toEqual([
      grpc.status.INVALID_ARGUMENT,
      'validate request: invalid RestoreAuthTokenRequest.Token: value is required',
    ]);
  });

  it('takes an empty subject before 2.11.0, which began recording principals', async () => {
    const { client, root, whoAmI } = await harness({ pachdVersion: '2.10.4' });
    const plaintext = '0123456789abcdef0123456789abcdef';
    await client.call(
      AUTH,
      'RestoreAuthToken',
      { token: { subject: '', hashed_token: sha256Hex(plaintext) } },
      { token: root },
    );
    expect((await whoAmI(plaintext)).username).toBe('');
    const newer = await harness({ pachdVersion: '2.11.0' });
    const refused = await newer.client.failure(
      AUTH,
      'RestoreAuthToken',
      { token: { subject: '', hashed_token: sha256Hex(plaintext) } },
      { token: newer.root },
    );
    expect(refused.code).toBe(grpc.status.UNKNOWN);
  });

  it('needs CLUSTER_AUTH_RESTORE_TOKEN, which robotUser lacks', async () => {
    const { standin, client } = await harness();
    const vault = standin.control.createToken({ subject: 'robot:vault', roles: ['robotUser'] });
    const denied = await client.failure(
      AUTH,
      'RestoreAuthToken',
      { token: { subject: 'user:x', hashed_token: sha256Hex('y') } },
      { token: vault.token },
    );
    expect([denied.code, denied.details]).toEqual([
      grpc.status.PERMISSION_DENIED,
      notAuthorizedText('robot:vault', 'CLUSTER_AUTH_RESTORE_TOKEN'),
    ]);
  });

  it('extracts robot rows only, by SHA-256', async () => {
    const { standin, client, root, robotToken } = await harness();
    const robot = await robotToken('ci', 600);
    const user = standin.control.createToken({ subject: 'user:carol' });
    const extracted = await client.call<{ tokens: TokenInfo[] }>(AUTH, 'ExtractAuthTokens', {}, { token: root });
    expect(extracted.tokens.map((token) => [token.subject, token.hashed_token])).toEqual([
      ['robot:ci', sha256Hex(robot)],
    ]);
    expect(extracted.tokens.map((token) => token.hashed_token)).not.toContain(user.hash);
  });
});

describe('2.x RevokeAuthToken and RevokeAuthTokensForUser', () => {
  it('revokes by plaintext, reports the rows deleted, and the token stops working', async () => {
    const { client, root, robotToken } = await harness();
    const token = await robotToken('gone', 600);
    expect(await client.call(AUTH, 'RevokeAuthToken', { token }, { token: root })).toEqual({ number: '1' });
    const after = await client.failure(AUTH, 'WhoAmI', {}, { token });
    expect([after.code, after.details]).toEqual([grpc.status.UNAUTHENTICATED, BAD_TOKEN]);
    expect(await client.call(AUTH, 'RevokeAuthToken', { token }, { token: root })).toEqual({ number: '0' });
  });

  it('lets any authenticated caller revoke a token it holds', async () => {
    const { standin, client, robotToken } = await harness();
    const token = await robotToken('shared', 600);
    const alice = standin.control.createToken({ subject: 'user:alice' });
    expect(await client.call(AUTH, 'RevokeAuthToken', { token }, { token: alice.token })).toEqual({ number: '1' });
    const anonymous = await client.failure(AUTH, 'RevokeAuthToken', { token });
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('sends an empty RevokeAuthTokenResponse before 2.5.0', async () => {
    const older = await harness({ pachdVersion: '2.4.2' });
    const request = Buffer.concat([Buffer.from([0x0a, 32]), Buffer.from(await older.robotToken('a', 60))]);
    const olderBytes = await older.client.rawCall('/auth_v2.API/RevokeAuthToken', request, { token: older.root });
    expect(olderBytes.length).toBe(0);
    const newer = await harness({ pachdVersion: '2.5.0' });
    const newerRequest = Buffer.concat([Buffer.from([0x0a, 32]), Buffer.from(await newer.robotToken('a', 60))]);
    const newerBytes = await newer.client.rawCall('/auth_v2.API/RevokeAuthToken', newerRequest, { token: newer.root });
    expect([...newerBytes]).toEqual([0x08, 0x01]);
  });

  it('revokes every token of a subject, but never a pach: one', async () => {
    const { client, root, robotToken, whoAmI } = await harness();
    const first = await robotToken('batch', 600);
    await robotToken('batch', 600);
    const other = await robotToken('other', 600);
    expect(await client.call(AUTH, 'RevokeAuthTokensForUser', { username: 'robot:batch' }, { token: root })).toEqual({
      number: '2',
    });
    expect((await client.failure(AUTH, 'WhoAmI', {}, { token: first })).details).toBe(BAD_TOKEN);
    expect((await whoAmI(other)).username).toBe('robot:other');
    const pach = await client.failure(AUTH, 'RevokeAuthTokensForUser', { username: 'pach:root' }, { token: root });
    expect([pach.code, pach.details]).toEqual([grpc.status.UNKNOWN, 'cannot revoke tokens for pach: users']);
  });
});

describe('2.x expiry on the stand-in clock', () => {
  it('keeps an expired row (ErrExpiredToken) until the 24-hour cleanup purges it (ErrBadToken)', async () => {
    const { standin, client, root, robotToken, whoAmI } = await harness();
    const token = await robotToken('short', 60);
    standin.control.advanceClock(59);
    expect((await whoAmI(token)).username).toBe('robot:short');
    standin.control.advanceClock(2);
    const expired = await client.failure(AUTH, 'WhoAmI', {}, { token });
    expect([expired.code, expired.details]).toEqual([grpc.status.INTERNAL, 'token expiration is in the past']);
    const extracted = await client.call<{ tokens: TokenInfo[] }>(AUTH, 'ExtractAuthTokens', {}, { token: root });
    expect(extracted.tokens.map((info) => info.hashed_token)).toContain(sha256Hex(token));
    expect(standin.control.listTokens().find((view) => view.hash === sha256Hex(token))?.expired).toBe(true);
    standin.control.advanceClock(DAY_SECONDS);
    const purged = await client.failure(AUTH, 'WhoAmI', {}, { token });
    expect([purged.code, purged.details]).toEqual([grpc.status.UNAUTHENTICATED, BAD_TOKEN]);
  });
});

describe('2.x RotateRootToken and GetPermissions', () => {
  it('replaces the root token', async () => {
    const { standin, client, root, whoAmI } = await harness();
    const rotated = await client.call<{ root_token: string }>(AUTH, 'RotateRootToken', {}, { token: root });
    expect(rotated.root_token).toMatch(/^[0-9a-f]{32}$/);
    expect(rotated.root_token).not.toBe(root);
    expect(standin.rootToken).toBe(rotated.root_token);
    expect((await whoAmI(rotated.root_token)).username).toBe('pach:root');
    expect((await client.failure(AUTH, 'WhoAmI', {}, { token: root })).details).toBe(BAD_TOKEN);
  });

  it('reports cluster roles and permissions of the caller', async () => {
    const { standin, client, root } = await harness();
    const cluster = { resource: { type: 1, name: '' } };
    const admin = await client.call<{ roles: string[]; permissions: number[] }>(AUTH, 'GetPermissions', cluster, {
      token: root,
    });
    expect(admin.roles).toEqual(['clusterAdmin', 'projectCreator']);
    expect(admin.permissions).toContain(PERMISSION_RESTORE_TOKEN);
    const vault = standin.control.createToken({ subject: 'robot:vault', roles: ['robotUser'] });
    const robot = await client.call<{ roles: string[]; permissions: number[] }>(AUTH, 'GetPermissions', cluster, {
      token: vault.token,
    });
    expect(robot.roles).toEqual(['projectCreator', 'robotUser']);
    expect(robot.permissions).toContain(PERMISSION_GET_ROBOT_TOKEN);
    expect(robot.permissions).not.toContain(PERMISSION_RESTORE_TOKEN);
  });
});

describe('2.x auth activation and metadata', () => {
  it('answers ErrNotActivated while deactivated, and Activate bootstraps afresh', async () => {
    const { standin, client, root, whoAmI } = await harness();
    standin.control.deactivateAuth();
    const off = await client.failure(AUTH, 'WhoAmI', {}, { token: root });
    expect([off.code, off.details]).toEqual([grpc.status.UNIMPLEMENTED, 'the auth service is not activated']);
    const robotOff = await client.failure(AUTH, 'GetRobotToken', { robot: 'x' }, { token: root });
    expect(robotOff.details).toBe('the auth service is not activated');
    const fresh = 'c0ffee00c0ffee00c0ffee00c0ffee00';
    expect(await client.call(AUTH, 'Activate', { root_token: fresh })).toEqual({ pach_token: fresh });
    expect((await whoAmI(fresh)).username).toBe('pach:root');
    expect((await client.failure(AUTH, 'WhoAmI', {}, { token: root })).details).toBe(BAD_TOKEN);
  });

  it('answers missing and repeated authn-token values as pachd does', async () => {
    const { client, root } = await harness();
    const missing = await client.failure(AUTH, 'WhoAmI', {});
    expect([missing.code, missing.details]).toEqual([
      grpc.status.UNAUTHENTICATED,
      'no authentication token (try logging in)',
    ]);
    const several = await client.failure(AUTH, 'GetRobotToken', { robot: 'x' }, { tokens: [root, root] });
    expect([several.code, several.details]).toEqual([
      grpc.status.UNKNOWN,
      'multiple authentication token keys found in context',
    ]);
  });
});
