// What a real pachd 2.11.6 answered (docs/pachd-auth-api.md §13), replayed against the stand-in
// emulating that release. Each test names the observation it holds the stand-in to.
import * as grpc from '@grpc/grpc-js';

import { PachdTestClient, sha256Hex } from './pachd-test-client';
import { type PachdStandin, startPachdStandin } from './standin';

const AUTH = 'auth_v2.API';
const BAD_TOKEN = 'provided auth token is corrupted or has expired (try logging in again)';
const EXPIRED = 'token expiration is in the past';
const DUPLICATE = 'error restoring auth token: cannot overwrite existing token with same hash';
const COLONS = "robot names cannot contain colons (':')";
const DAY_SECONDS = 24 * 60 * 60;

interface Timestamp {
  seconds: string;
  nanos: number;
}

const running: Array<{ standin: PachdStandin; client: PachdTestClient }> = [];

afterEach(async () => {
  for (const { standin, client } of running.splice(0)) {
    client.close();
    await standin.stop();
  }
});

async function observedRelease(): Promise<{
  standin: PachdStandin;
  client: PachdTestClient;
  root: string;
  whoAmI(token: string): Promise<{ username: string; expiration: Timestamp | null }>;
  robotToken(robot: string, ttl?: number): Promise<string>;
  restore(subject: string, plaintext: string, expiresAtMs?: number): Promise<unknown>;
}> {
  const standin = await startPachdStandin({ pachdVersion: '2.11.6' });
  const client = new PachdTestClient(standin.address);
  running.push({ standin, client });
  const root = standin.rootToken;
  return {
    standin,
    client,
    root,
    whoAmI: (token) => client.call(AUTH, 'WhoAmI', {}, { token }),
    robotToken: async (robot, ttl = 0) =>
      (await client.call<{ token: string }>(AUTH, 'GetRobotToken', { robot, ttl }, { token: root })).token,
    restore: (subject, plaintext, expiresAtMs) =>
      client.call(
        AUTH,
        'RestoreAuthToken',
        { token: { subject, hashed_token: sha256Hex(plaintext), ...expiration(expiresAtMs) } },
        { token: root },
      ),
  };
}

function expiration(expiresAtMs: number | undefined): { expiration?: Timestamp } {
  if (expiresAtMs === undefined) return {};
  const seconds = Math.floor(expiresAtMs / 1000);
  return { expiration: { seconds: String(seconds), nanos: Math.round((expiresAtMs - seconds * 1000) * 1e6) } };
}

function timestampMs(timestamp: Timestamp | null): number {
  if (timestamp === null) throw new Error('no expiration');
  return Number(timestamp.seconds) * 1000 + timestamp.nanos / 1e6;
}

describe('pachd 2.11.6 as observed: an expired token', () => {
  it('answers every call made with it INTERNAL "token expiration is in the past" until the cleanup', async () => {
    const { standin, client, restore, whoAmI } = await observedRelease();
    const expired = 'e'.repeat(32);
    await restore('robot:admin-bot', expired, standin.control.clock().nowMs + 5_000);
    // clusterAdmin, so nothing but the expiry could refuse it.
    standin.control.setClusterRoles('robot:admin-bot', ['clusterAdmin']);
    expect((await whoAmI(expired)).username).toBe('robot:admin-bot');
    standin.control.advanceClock(6);

    const cluster = { resource: { type: 1, name: '' } };
    const calls: Array<[string, object]> = [
      ['WhoAmI', {}],
      ['GetRobotToken', { robot: 'ci' }],
      ['RevokeAuthToken', { token: 'f'.repeat(32) }],
      ['RevokeAuthTokensForUser', { username: 'robot:ci' }],
      ['RestoreAuthToken', { token: { subject: 'robot:x', hashed_token: sha256Hex('x') } }],
      ['RotateRootToken', {}],
      ['ExtractAuthTokens', {}],
      ['DeleteExpiredAuthTokens', {}],
      ['GetPermissions', cluster],
      ['GetPermissionsForPrincipal', { ...cluster, principal: 'robot:ci' }],
      ['Authorize', { ...cluster, permissions: [139] }],
      ['Deactivate', {}],
    ];
    for (const [method, request] of calls) {
      const failure = await client.failure(AUTH, method, request, { token: expired });
      expect([method, failure.code, failure.details]).toEqual([method, grpc.status.INTERNAL, EXPIRED]);
    }
    expect(standin.control.info().authActivated).toBe(true);

    standin.control.advanceClock(DAY_SECONDS);
    const purged = await client.failure(AUTH, 'WhoAmI', {}, { token: expired });
    expect([purged.code, purged.details]).toEqual([grpc.status.UNAUTHENTICATED, BAD_TOKEN]);
  });
});

describe('pachd 2.11.6 as observed: GetRobotToken', () => {
  it('gives robot:ci and ci the same subject, and makes robot: of an empty name', async () => {
    const { robotToken, whoAmI } = await observedRelease();
    expect((await whoAmI(await robotToken('robot:ci'))).username).toBe('robot:ci');
    expect((await whoAmI(await robotToken('ci'))).username).toBe('robot:ci');
    expect((await whoAmI(await robotToken(''))).username).toBe('robot:');
  });

  it('refuses a name holding a colon with UNKNOWN', async () => {
    const { client, root } = await observedRelease();
    for (const robot of ['user:ci', 'robot:robot:ci']) {
      const failure = await client.failure(AUTH, 'GetRobotToken', { robot, ttl: 60 }, { token: root });
      expect([robot, failure.code, failure.details]).toEqual([robot, grpc.status.UNKNOWN, COLONS]);
    }
  });

  it('sets an expiry for ttl 3600 and none for ttl <= 0', async () => {
    const { standin, robotToken, whoAmI } = await observedRelease();
    const before = standin.control.clock().nowMs;
    const expiresMs = timestampMs((await whoAmI(await robotToken('hour', 3600))).expiration);
    expect(expiresMs).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(expiresMs).toBeLessThanOrEqual(standin.control.clock().nowMs + 3_600_000);
    expect((await whoAmI(await robotToken('zero', 0))).expiration).toBeNull();
    expect((await whoAmI(await robotToken('negative', -1))).expiration).toBeNull();
  });
});

describe('pachd 2.11.6 as observed: RestoreAuthToken', () => {
  it('accepts any subject: user:, robot:, even one without a prefix', async () => {
    const { restore, whoAmI } = await observedRelease();
    for (const [subject, plaintext] of [
      ['user:alice@example.com', 'a'.repeat(32)],
      ['robot:ci', 'b'.repeat(32)],
      ['noprefix', 'c'.repeat(32)],
    ] as const) {
      await restore(subject, plaintext);
      expect(await whoAmI(plaintext)).toEqual({ username: subject, expiration: null });
    }
  });

  it('refuses an empty subject with UNKNOWN', async () => {
    const { client, root } = await observedRelease();
    const failure = await client.failure(
      AUTH,
      'RestoreAuthToken',
      { token: { subject: '', hashed_token: sha256Hex('empty') } },
      { token: root },
    );
    expect(failure.code).toBe(grpc.status.UNKNOWN);
    expect(failure.details).toContain('error restoring auth token');
  });

  it('stores the expiry truncated to whole seconds from now, up to 1 s early', async () => {
    const { standin, restore, whoAmI } = await observedRelease();
    const beforeMs = standin.control.clock().nowMs;
    const requestedMs = beforeMs + 3_600_900;
    await restore('user:alice', 'd'.repeat(32), requestedMs);
    const storedMs = timestampMs((await whoAmI('d'.repeat(32))).expiration);
    expect(storedMs).toBeLessThanOrEqual(requestedMs);
    expect(storedMs).toBeGreaterThan(requestedMs - 1000);
    // 3600.9 s left became 3600 whole seconds from the moment of the restore.
    expect(storedMs).toBeGreaterThanOrEqual(beforeMs + 3_600_000);
  });

  it('stores no expiry at all with under one second remaining', async () => {
    const { standin, restore, whoAmI } = await observedRelease();
    await restore('user:brief', '1'.repeat(32), standin.control.clock().nowMs + 500);
    expect((await whoAmI('1'.repeat(32))).expiration).toBeNull();
  });

  it('refuses an existing hash, for the same or another subject, and a past expiry', async () => {
    const { standin, client, root, restore } = await observedRelease();
    await restore('user:alice', '2'.repeat(32));
    for (const subject of ['user:alice', 'robot:other']) {
      const failure = await client.failure(
        AUTH,
        'RestoreAuthToken',
        { token: { subject, hashed_token: sha256Hex('2'.repeat(32)) } },
        { token: root },
      );
      expect([subject, failure.code, failure.details]).toEqual([subject, grpc.status.UNKNOWN, DUPLICATE]);
    }
    const past = await client.failure(
      AUTH,
      'RestoreAuthToken',
      {
        token: {
          subject: 'user:late',
          hashed_token: sha256Hex('late'),
          ...expiration(standin.control.clock().nowMs - 5_000),
        },
      },
      { token: root },
    );
    expect([past.code, past.details]).toEqual([grpc.status.INTERNAL, EXPIRED]);
    const nothing = await client.failure(AUTH, 'RestoreAuthToken', {}, { token: root });
    expect(nothing.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('pachd 2.11.6 as observed: revoking', () => {
  it('lets any authenticated caller revoke any token: 1 for an existing one, 0 for an unknown', async () => {
    const { standin, client, robotToken, whoAmI } = await observedRelease();
    const ci = await robotToken('ci');
    const alice = standin.control.createToken({ subject: 'user:alice@example.com' });
    // robot:ci holds no role at all.
    expect(standin.control.clusterRoleBindings()['robot:ci']).toBeUndefined();
    expect(await client.call(AUTH, 'RevokeAuthToken', { token: alice.token }, { token: ci })).toEqual({ number: '1' });
    expect((await client.failure(AUTH, 'WhoAmI', {}, { token: alice.token })).details).toBe(BAD_TOKEN);
    expect(await client.call(AUTH, 'RevokeAuthToken', { token: alice.token }, { token: ci })).toEqual({ number: '0' });
    expect(await client.call(AUTH, 'RevokeAuthToken', { token: '9'.repeat(32) }, { token: ci })).toEqual({
      number: '0',
    });
    expect((await whoAmI(ci)).username).toBe('robot:ci');
    const anonymous = await client.failure(AUTH, 'RevokeAuthToken', { token: ci });
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it("revokes a robot's tokens, answering how many, and refuses pach: users", async () => {
    const { client, root, robotToken } = await observedRelease();
    await robotToken('ci');
    await robotToken('robot:ci');
    expect(await client.call(AUTH, 'RevokeAuthTokensForUser', { username: 'robot:ci' }, { token: root })).toEqual({
      number: '2',
    });
    expect(await client.call(AUTH, 'RevokeAuthTokensForUser', { username: 'robot:ci' }, { token: root })).toEqual({
      number: '0',
    });
    for (const username of ['pach:root', 'pach:someone']) {
      const failure = await client.failure(AUTH, 'RevokeAuthTokensForUser', { username }, { token: root });
      expect([failure.code, failure.details]).toEqual([grpc.status.UNKNOWN, 'cannot revoke tokens for pach: users']);
    }
  });
});

describe('pachd 2.11.6 as observed: Activate and RotateRootToken', () => {
  it('answers Activate on an active cluster UNIMPLEMENTED, root token or not', async () => {
    const { client, root } = await observedRelease();
    for (const options of [{ token: root }, {}]) {
      const failure = await client.failure(AUTH, 'Activate', { root_token: 'a'.repeat(32) }, options);
      expect([failure.code, failure.details]).toEqual([
        grpc.status.UNIMPLEMENTED,
        'the auth service is already activated',
      ]);
    }
  });

  it('rotates to a given value, retiring the old root, and refuses a non-admin', async () => {
    const { standin, client, root, robotToken, whoAmI } = await observedRelease();
    const ci = await robotToken('ci');
    const chosen = '7'.repeat(32);
    expect(await client.call(AUTH, 'RotateRootToken', { root_token: chosen }, { token: root })).toEqual({
      root_token: chosen,
    });
    expect((await client.failure(AUTH, 'WhoAmI', {}, { token: root })).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await whoAmI(chosen)).username).toBe('pach:root');
    expect(standin.rootToken).toBe(chosen);
    const denied = await client.failure(AUTH, 'RotateRootToken', {}, { token: ci });
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("keeps the root token when the new value collides with another subject's token (one transaction)", async () => {
    const { client, root, robotToken, whoAmI } = await observedRelease();
    const ci = await robotToken('ci');
    const failure = await client.failure(AUTH, 'RotateRootToken', { root_token: ci }, { token: root });
    expect(failure.details).toMatch(/cannot overwrite existing token with same hash/);
    expect((await whoAmI(root)).username).toBe('pach:root');
  });
});
