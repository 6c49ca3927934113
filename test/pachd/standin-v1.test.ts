// The 1.x stand-in (auth.API, versionpb.API) through real gRPC clients.
import * as grpc from '@grpc/grpc-js';

import { sha256Hex } from './pachd-test-client';
import { AUTH, VERSION, BAD_TOKEN, harness, type AuthToken, type HashedAuthToken } from './standin-v1-harness';

describe('1.x bootstrap and version', () => {
  it('starts activated with a non-expiring pach:root admin token', async () => {
    const { root, whoAmI } = await harness();
    expect(root).toMatch(/^[0-9a-f]{32}$/);
    const me = await whoAmI(root);
    expect(me).toEqual({ username: 'pach:root', is_admin: true, ttl: '-1', cluster_roles: { roles: [1] } });
  });

  it('reports the emulated version, 1.13.4 by default', async () => {
    const { client } = await harness();
    const version = await client.call(VERSION, 'GetVersion', {});
    expect(version).toEqual({ major: 1, minor: 13, micro: 4, additional: '' });
    const older = await harness({ pachdVersion: '1.12.5-rc1' });
    expect(await older.client.call(VERSION, 'GetVersion', {})).toEqual({
      major: 1,
      minor: 12,
      micro: 5,
      additional: '-rc1',
    });
  });
});

describe('1.x GetAuthToken', () => {
  it('mints a 32-hex token that authenticates as the subject with the requested TTL', async () => {
    const { mint, whoAmI } = await harness();
    const minted = await mint('robot:ci', 600);
    expect(minted.token).toMatch(/^[0-9a-f]{32}$/);
    expect(minted.subject).toBe('robot:ci');
    const me = await whoAmI(minted.token);
    expect(me.username).toBe('robot:ci');
    expect(me.is_admin).toBe(false);
    expect(me.cluster_roles).toEqual({ roles: [] });
    expect(Number(me.ttl)).toBeGreaterThanOrEqual(598);
    expect(Number(me.ttl)).toBeLessThanOrEqual(600);
  });

  it('keeps only the SHA-256 of each token', async () => {
    const { standin, client, root, mint } = await harness();
    const minted = await mint('robot:hashed', 600);
    const extracted = await client.call<{ tokens: HashedAuthToken[] }>(AUTH, 'ExtractAuthTokens', {}, { token: root });
    const entry = extracted.tokens.find((token) => token.token_info?.subject === 'robot:hashed');
    expect(entry?.hashed_token).toBe(sha256Hex(minted.token));
    expect(entry?.token_info?.source).toBe(2);
    expect(entry?.expiration).not.toBeNull();
    const listed = JSON.stringify(standin.control.listTokens());
    expect(listed).toContain(sha256Hex(minted.token));
    expect(listed).not.toContain(minted.token);
    expect(listed).not.toContain(root);
  });

  it('canonicalizes subjects: bare names are GitHub users, IdP prefixes pass', async () => {
    const { mint } = await harness();
    expect((await mint('alice', 60)).subject).toBe('github:alice');
    expect((await mint('okta:alice@example.com', 60)).subject).toBe('okta:alice@example.com');
    expect((await mint('group/okta:admins', 60)).subject).toBe('group/okta:admins');
    expect((await mint('pipeline:edges', 60)).subject).toBe('pipeline:edges');
  });

  it('rejects pach: subjects, unknown prefixes and unconfigured IdPs', async () => {
    const { client, root } = await harness({ idps: ['corp'] });
    const pach = await client.failure(AUTH, 'GetAuthToken', { subject: 'pach:other', ttl: 60 }, { token: root });
    expect([pach.code, pach.details]).toEqual([grpc.status.UNKNOWN, 'GetAuthTokenRequest.Subject is invalid']);
    const unknown = await client.failure(AUTH, 'GetAuthToken', { subject: 'okta:bob@example.com' }, { token: root });
    expect([unknown.code, unknown.details]).toEqual([grpc.status.UNKNOWN, 'subject has unrecognized prefix: okta:']);
    const corp = await client.call<AuthToken>(AUTH, 'GetAuthToken', { subject: 'corp:bob' }, { token: root });
    expect(corp.subject).toBe('corp:bob');
    // Root asking for itself resolves to pach:root, which is refused the same way.
    const self = await client.failure(AUTH, 'GetAuthToken', {}, { token: root });
    expect(self.details).toBe('GetAuthTokenRequest.Subject is invalid');
  });

  it('caps admin TTLs at 30 days and lets a negative TTL mean no expiry (1.11+)', async () => {
    const { mint, whoAmI } = await harness();
    const defaulted = await whoAmI((await mint('robot:zero', 0)).token);
    expect(Number(defaulted.ttl)).toBeGreaterThanOrEqual(2591998);
    expect(Number(defaulted.ttl)).toBeLessThanOrEqual(2592000);
    const capped = await whoAmI((await mint('robot:long', 99999999)).token);
    expect(Number(capped.ttl)).toBeLessThanOrEqual(2592000);
    expect(Number(capped.ttl)).toBeGreaterThanOrEqual(2591998);
    const forever = await whoAmI((await mint('robot:forever', -1)).token);
    expect(forever.ttl).toBe('-1');
  });

  it('follows the release: a 1.9.x admin TTL of 0 never expires, 1.10 caps it', async () => {
    const old = await harness({ pachdVersion: '1.9.12' });
    expect((await old.whoAmI((await old.mint('robot:a', 0)).token)).ttl).toBe('-1');
    const negative = await old.client.failure(
      AUTH,
      'GetAuthToken',
      { subject: 'robot:b', ttl: -1 },
      { token: old.root },
    );
    expect(negative.details).toBe('GetAuthTokenRequest.TTL must be >= 0');
    const newer = await harness({ pachdVersion: '1.10.0' });
    const ttl = Number((await newer.whoAmI((await newer.mint('robot:a', 0)).token)).ttl);
    expect(ttl).toBeGreaterThanOrEqual(2591998);
  });

  it('lets a non-admin mint only for itself, never beyond its own TTL', async () => {
    const { client, mint, whoAmI } = await harness();
    const alice = await mint('github:alice', 1000);
    const forOther = await client.failure(
      AUTH,
      'GetAuthToken',
      { subject: 'robot:x', ttl: 60 },
      { token: alice.token },
    );
    expect([forOther.code, forOther.details]).toEqual([
      grpc.status.UNKNOWN,
      'github:alice is not authorized to perform this operation; must be an admin to call GetAuthToken on behalf of ' +
        'another user',
    ]);
    const negative = await client.failure(AUTH, 'GetAuthToken', { subject: 'alice', ttl: -5 }, { token: alice.token });
    expect(negative.details).toBe('GetAuthTokenRequest.TTL must be >= 0');
    const own = await client.call<AuthToken>(
      AUTH,
      'GetAuthToken',
      { subject: 'alice', ttl: 5000 },
      { token: alice.token },
    );
    expect(own.subject).toBe('github:alice');
    const ownTtl = Number((await whoAmI(own.token)).ttl);
    expect(ownTtl).toBeLessThanOrEqual(1000);
    expect(ownTtl).toBeGreaterThanOrEqual(997);
  });

  it('answers missing and repeated authn-token values as pachd does', async () => {
    const { client, root } = await harness();
    const missing = await client.failure(AUTH, 'WhoAmI', {});
    expect([missing.code, missing.details]).toEqual([
      grpc.status.UNAUTHENTICATED,
      'no authentication token (try logging in)',
    ]);
    const several = await client.failure(AUTH, 'WhoAmI', {}, { tokens: [root, root] });
    expect([several.code, several.details]).toEqual([
      grpc.status.UNKNOWN,
      'multiple authentication token keys found in context',
    ]);
    const bogus = await client.failure(AUTH, 'WhoAmI', {}, { token: 'f'.repeat(32) });
    expect([bogus.code, bogus.details]).toEqual([grpc.status.UNAUTHENTICATED, BAD_TOKEN]);
  });
});

describe('1.x ExtendAuthToken', () => {
  it('replaces the remaining lifetime but refuses to shorten it', async () => {
    const { client, root, mint, whoAmI } = await harness();
    const minted = await mint('robot:renew', 600);
    await client.call(AUTH, 'ExtendAuthToken', { token: minted.token, ttl: 3600 }, { token: root });
    const extended = Number((await whoAmI(minted.token)).ttl);
    expect(extended).toBeGreaterThanOrEqual(3598);
    expect(extended).toBeLessThanOrEqual(3600);
    const shorter = await client.failure(AUTH, 'ExtendAuthToken', { token: minted.token, ttl: 100 }, { token: root });
    expect(shorter.code).toBe(grpc.status.UNKNOWN);
    expect(shorter.details).toMatch(/^provided TTL \(100\) is shorter than token's existing TTL \(35\d\d\)$/);
  });

  it('validates the ttl and the token', async () => {
    const { client, root, mint } = await harness();
    const minted = await mint('robot:renew', 600);
    const zero = await client.failure(AUTH, 'ExtendAuthToken', { token: minted.token, ttl: 0 }, { token: root });
    expect(zero.details).toBe('invalid request: ExtendAuthTokenRequest.TTL must be > 0');
    const tooLong = await client.failure(
      AUTH,
      'ExtendAuthToken',
      { token: minted.token, ttl: 2592001 },
      { token: root },
    );
    expect(tooLong.details).toBe('can only extend tokens by at most 2592000 seconds');
    const unknown = await client.failure(AUTH, 'ExtendAuthToken', { token: 'a'.repeat(32), ttl: 60 }, { token: root });
    expect([unknown.code, unknown.details]).toEqual([grpc.status.UNAUTHENTICATED, BAD_TOKEN]);
  });

  it('is admin-only', async () => {
    const { client, mint } = await harness();
    const alice = await mint('github:alice', 600);
    const denied = await client.failure(
      AUTH,
      'ExtendAuthToken',
      { token: alice.token, ttl: 900 },
      { token: alice.token },
    );
    expect([denied.code, denied.details]).toEqual([
      grpc.status.UNKNOWN,
      'github:alice is not authorized to perform this operation; must be an admin to call ExtendAuthToken',
    ]);
  });

  it('can give a non-expiring token a lifetime', async () => {
    const { client, root, mint, whoAmI } = await harness();
    const forever = await mint('robot:forever', -1);
    await client.call(AUTH, 'ExtendAuthToken', { token: forever.token, ttl: 60 }, { token: root });
    const ttl = Number((await whoAmI(forever.token)).ttl);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
  });
});

describe('1.x RevokeAuthToken', () => {
  it('revokes, after which the token is a bad token', async () => {
    const { client, root, mint } = await harness();
    const minted = await mint('robot:gone', 600);
    await client.call(AUTH, 'RevokeAuthToken', { token: minted.token }, { token: root });
    const after = await client.failure(AUTH, 'WhoAmI', {}, { token: minted.token });
    expect([after.code, after.details]).toEqual([grpc.status.UNAUTHENTICATED, BAD_TOKEN]);
  });

  it('fails on an unknown token from 1.13.3 with ErrRevokeUnknownToken', async () => {
    const { client, root } = await harness({ pachdVersion: '1.13.3' });
    const unknown = await client.failure(AUTH, 'RevokeAuthToken', { token: 'b'.repeat(32) }, { token: root });
    expect([unknown.code, unknown.details]).toEqual([grpc.status.INTERNAL, 'token has expired or is already revoked']);
  });

  it('succeeds on an unknown token up to 1.11.7', async () => {
    const { client, root, mint } = await harness({ pachdVersion: '1.11.0' });
    await expect(client.call(AUTH, 'RevokeAuthToken', { token: 'b'.repeat(32) }, { token: root })).resolves.toEqual({});
    const alice = await mint('github:alice', 600);
    await expect(
      client.call(AUTH, 'RevokeAuthToken', { token: 'c'.repeat(32) }, { token: alice.token }),
    ).resolves.toEqual({});
  });

  it('reports the missing etcd key for admins in 1.11.8 to 1.13.2', async () => {
    const { client, root, mint } = await harness({ pachdVersion: '1.13.2' });
    const token = 'b'.repeat(32);
    const unknown = await client.failure(AUTH, 'RevokeAuthToken', { token }, { token: root });
    expect([unknown.code, unknown.details]).toEqual([
      grpc.status.UNKNOWN,
      ` pachyderm/1.7.0/pachyderm_auth/tokens/${sha256Hex(token)} not found`,
    ]);
    const alice = await mint('github:alice', 600);
    const asUser = await client.failure(AUTH, 'RevokeAuthToken', { token }, { token: alice.token });
    expect(asUser.details).toBe(
      'github:alice is not authorized to perform this operation; must be an admin to call RevokeAuthToken on ' +
        "another user's token",
    );
  });

  it("lets users revoke their own tokens but not other users'", async () => {
    const { client, mint } = await harness();
    const alice = await mint('github:alice', 600);
    const bob = await mint('github:bob', 600);
    const denied = await client.failure(AUTH, 'RevokeAuthToken', { token: bob.token }, { token: alice.token });
    expect(denied.details).toMatch(/must be an admin to call RevokeAuthToken on another user's token$/);
    await client.call(AUTH, 'RevokeAuthToken', { token: alice.token }, { token: alice.token });
    expect((await client.failure(AUTH, 'WhoAmI', {}, { token: alice.token })).details).toBe(BAD_TOKEN);
  });
});

describe('1.x expiry on the stand-in clock', () => {
  it('drops a token once the clock passes its TTL', async () => {
    const { standin, client, mint, whoAmI } = await harness();
    const minted = await mint('robot:short', 60);
    standin.control.advanceClock(59);
    expect((await whoAmI(minted.token)).username).toBe('robot:short');
    standin.control.advanceClock(1);
    const expired = await client.failure(AUTH, 'WhoAmI', {}, { token: minted.token });
    expect([expired.code, expired.details]).toEqual([grpc.status.UNAUTHENTICATED, BAD_TOKEN]);
    expect(standin.control.listTokens().map((token) => token.hash)).not.toContain(sha256Hex(minted.token));
  });

  it("raises sub-2-second leases to etcd's 2-second minimum", async () => {
    const { standin, client, mint, whoAmI } = await harness();
    const minted = await mint('robot:blink', 1);
    standin.control.advanceClock(1.5);
    expect((await whoAmI(minted.token)).username).toBe('robot:blink');
    standin.control.advanceClock(0.5);
    expect((await client.failure(AUTH, 'WhoAmI', {}, { token: minted.token })).details).toBe(BAD_TOKEN);
  });
});

describe('1.x RestoreAuthToken and ExtractAuthTokens', () => {
  it('restores a hash so its plaintext authenticates as the given subject', async () => {
    const { standin, client, root, whoAmI } = await harness();
    const plaintext = '0123456789abcdef0123456789abcdef';
    const expiresAtSeconds = Math.floor(standin.control.clock().nowMs / 1000) + 3600;
    const token = {
      hashed_token: sha256Hex(plaintext),
      token_info: { subject: 'github:restored', source: 2 },
      expiration: { seconds: expiresAtSeconds, nanos: 0 },
    };
    await client.call(AUTH, 'RestoreAuthToken', { token }, { token: root });
    const me = await whoAmI(plaintext);
    expect(me.username).toBe('github:restored');
    expect(Number(me.ttl)).toBeGreaterThan(3500);
    const duplicate = await client.failure(AUTH, 'RestoreAuthToken', { token }, { token: root });
    expect([duplicate.code, duplicate.details]).toEqual([
      grpc.status.UNKNOWN,
      'error restoring auth token: cannot overwrite existing token with same hash',
    ]);
    const past = await client.failure(
      AUTH,
      'RestoreAuthToken',
      {
        token: {
          ...token,
          hashed_token: sha256Hex('other'),
          expiration: { seconds: expiresAtSeconds - 7200, nanos: 0 },
        },
      },
      { token: root },
    );
    expect([past.code, past.details]).toEqual([grpc.status.INTERNAL, 'token expiration is in the past']);
  });

  it('does not exist before 1.11.9', async () => {
    const { client, root } = await harness({ pachdVersion: '1.11.0' });
    const missing = await client.failure(AUTH, 'ExtractAuthTokens', {}, { token: root });
    expect([missing.code, missing.details]).toEqual([
      grpc.status.UNIMPLEMENTED,
      'unknown method ExtractAuthTokens for service auth.API',
    ]);
  });

  it('is admin-only', async () => {
    const { client, mint } = await harness();
    const alice = await mint('github:alice', 600);
    const denied = await client.failure(AUTH, 'ExtractAuthTokens', {}, { token: alice.token });
    expect(denied.details).toBe(
      'github:alice is not authorized to perform this operation; must be an admin to call ExtractAuthTokens',
    );
  });
});
