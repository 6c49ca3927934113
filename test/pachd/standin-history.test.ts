// The token history: every token ever inserted, by hash, with what created it.
import { PachdTestClient, sha256Hex } from './pachd-test-client';
import { type PachdStandin, startPachdStandin } from './standin';
import type { HistoryToken } from './token-history';

const running: Array<{ standin: PachdStandin; client: PachdTestClient }> = [];

async function start(generation: 1 | 2): Promise<{ standin: PachdStandin; client: PachdTestClient }> {
  const standin = await startPachdStandin({ generation });
  const client = new PachdTestClient(standin.address);
  running.push({ standin, client });
  return { standin, client };
}

afterEach(async () => {
  for (const { standin, client } of running.splice(0)) {
    client.close();
    await standin.stop();
  }
});

function originsByHash(history: readonly HistoryToken[]): Record<string, string> {
  return Object.fromEntries(history.map((entry) => [entry.hash, entry.origin]));
}

describe('token history, 2.x', () => {
  it('records every insert with its origin and keeps revoked and wiped tokens', async () => {
    const { standin, client } = await start(2);
    const firstRoot = standin.rootToken;
    const auth = 'auth_v2.API';
    const vault = standin.control.createToken({ subject: 'robot:vault', roles: ['robotUser'] });
    const robot = (
      await client.call<{ token: string }>(auth, 'GetRobotToken', { robot: 'ci', ttl: 60 }, { token: vault.token })
    ).token;
    const restoredHash = sha256Hex('restored-plaintext');
    await client.call(
      auth,
      'RestoreAuthToken',
      { token: { subject: 'user:alice', hashed_token: restoredHash } },
      { token: firstRoot },
    );
    const rotated = (await client.call<{ root_token: string }>(auth, 'RotateRootToken', {}, { token: firstRoot }))
      .root_token;
    await client.call(auth, 'RevokeAuthToken', { token: robot }, { token: rotated });
    await client.call(auth, 'Deactivate', {}, { token: rotated });
    const activated = (await client.call<{ pach_token: string }>(auth, 'Activate', {})).pach_token;
    standin.control.deactivateAuth({ wipe: true });
    const rebootstrapped = standin.control.activateAuth().rootToken;

    const history = standin.control.tokenHistory();
    expect(history.map((entry) => entry.origin)).toEqual([
      'bootstrap',
      'control',
      'GetRobotToken',
      'RestoreAuthToken',
      'RotateRootToken',
      'Activate',
      'bootstrap',
    ]);
    expect(originsByHash(history)).toEqual({
      [sha256Hex(firstRoot)]: 'bootstrap',
      [vault.hash]: 'control',
      [sha256Hex(robot)]: 'GetRobotToken',
      [restoredHash]: 'RestoreAuthToken',
      [sha256Hex(rotated)]: 'RotateRootToken',
      [sha256Hex(activated)]: 'Activate',
      [sha256Hex(rebootstrapped)]: 'bootstrap',
    });
    expect(history.map((entry) => entry.subject)).toEqual([
      'pach:root',
      'robot:vault',
      'robot:ci',
      'user:alice',
      'pach:root',
      'pach:root',
      'pach:root',
    ]);
    // Only the last root token is still in the table; the history forgot nothing.
    expect(standin.control.listTokens().map((view) => view.hash)).toEqual([sha256Hex(rebootstrapped)]);
  });

  it('leaves failed inserts out and stamps entries with the stand-in clock', async () => {
    const { standin, client } = await start(2);
    const token = { subject: 'user:bob', hashed_token: sha256Hex('bob') };
    await client.call('auth_v2.API', 'RestoreAuthToken', { token }, { token: standin.rootToken });
    await client.failure('auth_v2.API', 'RestoreAuthToken', { token }, { token: standin.rootToken });
    expect(standin.control.tokenHistory().filter((entry) => entry.hash === token.hashed_token)).toHaveLength(1);

    const advanced = standin.control.advanceClock(30 * 24 * 3600);
    const later = standin.control.createToken({ subject: 'robot:later' });
    const entry = standin.control.tokenHistory().find((candidate) => candidate.hash === later.hash);
    expect(entry?.createdAtMs).toBeGreaterThanOrEqual(advanced.nowMs);
  });

  it('serves the history over HTTP without any plaintext', async () => {
    const { standin, client } = await start(2);
    const robot = (
      await client.call<{ token: string }>(
        'auth_v2.API',
        'GetRobotToken',
        { robot: 'ci' },
        { token: standin.rootToken },
      )
    ).token;
    const response = await fetch(`${String(standin.controlUrl)}/tokens/history`);
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(JSON.parse(text)).toEqual({ tokens: standin.control.tokenHistory() });
    expect(text).toContain(sha256Hex(robot));
    expect(text).not.toContain(robot);
    expect(text).not.toContain(standin.rootToken);
  });
});

describe('token history, 1.x', () => {
  it('records GetAuthToken, RestoreAuthToken, Activate, bootstrap and control inserts', async () => {
    const { standin, client } = await start(1);
    const root = standin.rootToken;
    const minted = (
      await client.call<{ token: string }>(
        'auth.API',
        'GetAuthToken',
        { subject: 'robot:ci', ttl: 60 },
        { token: root },
      )
    ).token;
    const restoredHash = sha256Hex('restored-1x');
    await client.call(
      'auth.API',
      'RestoreAuthToken',
      { token: { hashed_token: restoredHash, token_info: { subject: 'robot:old', source: 2 } } },
      { token: root },
    );
    const alice = standin.control.createToken({ subject: 'github:alice' });
    standin.control.deactivateAuth({ wipe: true });
    const activated = (
      await client.call<{ pach_token: string }>('auth.API', 'Activate', { root_token: 'cd'.repeat(16) })
    ).pach_token;

    expect(originsByHash(standin.control.tokenHistory())).toEqual({
      [sha256Hex(root)]: 'bootstrap',
      [sha256Hex(minted)]: 'GetAuthToken',
      [restoredHash]: 'RestoreAuthToken',
      [alice.hash]: 'control',
      [sha256Hex(activated)]: 'Activate',
    });
  });
});
