// Write counters and the contention model through real gRPC calls and the HTTP control API.
// Nothing here asserts how long anything took: outcomes are read from the counters, and waits
// poll the counters until the stand-in has seen what the test did.
import { setMaxListeners } from 'node:events';

import * as grpc from '@grpc/grpc-js';

import { DEFAULT_CONTENTION_SETTINGS } from './contention-model';
import { PachdTestClient, sha256Hex } from './pachd-test-client';
import { type PachdStandin, type PachdStandinOptions, startPachdStandin } from './standin';
import type { StatsSnapshot } from './standin-stats';

const AUTH = 'auth_v2.API';
const running: Array<{ standin: PachdStandin; client: PachdTestClient }> = [];

async function start(options: PachdStandinOptions = {}): Promise<{ standin: PachdStandin; client: PachdTestClient }> {
  const standin = await startPachdStandin({ generation: 2, ...options });
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

/** Polls until `condition` holds; fails (naming what it waited for) after 10 s. */
async function eventually(what: string, condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never saw: ${what}`);
}

function writes(standin: PachdStandin): StatsSnapshot['writes'] {
  return standin.control.stats().writes;
}

/** A RestoreAuthToken request for a hash the test can look for in the table afterwards. */
function restoreRequest(label: string): { token: { subject: string; hashed_token: string } } {
  return { token: { subject: `robot:${label}`, hashed_token: sha256Hex(label) } };
}

function tableHas(standin: PachdStandin, label: string): boolean {
  return standin.control.listTokens().some((view) => view.hash === sha256Hex(label));
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: grpc.ServiceError };

async function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: error as grpc.ServiceError };
  }
}

const EVERY_WRITE_STALLS = { stallFrom: 0, stallStep: 1, stallMax: 1, stallMaxMs: 60_000 };
const NO_STALLS = { stallFrom: 1e9 };
const FLAT = { doublingEvery: 1e12 };

describe('stats', () => {
  it('counts every call, and as writes only token writes, applied or refused', async () => {
    const { standin, client } = await start();
    const root = standin.rootToken;
    await client.call(AUTH, 'WhoAmI', {}, { token: root });
    await client.call('versionpb_v2.API', 'GetVersion', {});
    await client.call(AUTH, 'GetPermissions', { resource: { type: 1, name: '' } }, { token: root });
    const robot = (await client.call<{ token: string }>(AUTH, 'GetRobotToken', { robot: 'ci' }, { token: root })).token;
    await client.call(AUTH, 'RestoreAuthToken', restoreRequest('a'), { token: root });
    await client.call(AUTH, 'RevokeAuthToken', { token: robot }, { token: root });
    await client.call(AUTH, 'RevokeAuthTokensForUser', { username: 'robot:a' }, { token: root });
    const alice = standin.control.createToken({ subject: 'user:alice' });
    await client.failure(AUTH, 'GetRobotToken', { robot: 'x' }, { token: alice.token });
    standin.control.injectError({ method: 'RestoreAuthToken', code: 14, message: 'flaky', count: 1 });
    await client.failure(AUTH, 'RestoreAuthToken', restoreRequest('b'), { token: root });
    const rotated = await client.call<{ root_token: string }>(AUTH, 'RotateRootToken', {}, { token: root });
    // A 1.x name on a 2.x stand-in is an unknown service, not a write.
    await client.rawFailure('/auth.API/GetAuthToken', { token: rotated.root_token });

    expect(standin.control.stats()).toEqual({
      writes: { total: 7, applied: 5, stalled: 0, abandoned: 0, inFlight: 0, maxInFlight: 1 },
      calls: {
        total: 11,
        // GetVersion carries no token; each other call is counted under its caller's hash.
        byCaller: { [sha256Hex(root)]: 8, [sha256Hex(alice.token)]: 1, [sha256Hex(rotated.root_token)]: 1 },
      },
    });
  });

  it('counts 1.x token writes, but not a RestoreAuthToken the release lacks', async () => {
    const { standin, client } = await start({ generation: 1 });
    const root = standin.rootToken;
    const token = (
      await client.call<{ token: string }>(
        'auth.API',
        'GetAuthToken',
        { subject: 'robot:ci', ttl: 60 },
        { token: root },
      )
    ).token;
    await client.call('auth.API', 'ExtendAuthToken', { token, ttl: 120 }, { token: root });
    await client.call('auth.API', 'RevokeAuthToken', { token }, { token: root });
    await client.call(
      'auth.API',
      'RestoreAuthToken',
      { token: { hashed_token: sha256Hex('r'), token_info: { subject: 'robot:r' } } },
      { token: root },
    );
    await client.call('auth.API', 'WhoAmI', {}, { token: root });
    expect(standin.control.stats()).toEqual({
      writes: { total: 4, applied: 4, stalled: 0, abandoned: 0, inFlight: 0, maxInFlight: 1 },
      calls: { total: 5, byCaller: { [sha256Hex(root)]: 5 } },
    });

    const older = await start({ generation: 1, pachdVersion: '1.11.0' });
    const absent = await older.client.failure(
      'auth.API',
      'RestoreAuthToken',
      { token: { hashed_token: 'x' } },
      { token: older.standin.rootToken },
    );
    expect(absent.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(older.standin.control.stats().writes.total).toBe(0);
  });

  it('counts writes held back by injected latency as in flight', async () => {
    const { standin, client } = await start();
    standin.control.setLatency('GetRobotToken', 500);
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        client.call(AUTH, 'GetRobotToken', { robot: `r${i}` }, { token: standin.rootToken }),
      ),
    );
    expect(writes(standin)).toEqual({ total: 6, applied: 6, stalled: 0, abandoned: 0, inFlight: 0, maxInFlight: 6 });
  });

  it('resets counters and maxInFlight, over HTTP as in process', async () => {
    const { standin, client } = await start();
    await client.call(AUTH, 'GetRobotToken', { robot: 'ci' }, { token: standin.rootToken });
    const base = String(standin.controlUrl);
    const before = (await (await fetch(`${base}/stats`)).json()) as StatsSnapshot;
    expect(before).toEqual(standin.control.stats());
    expect(before.writes.applied).toBe(1);
    const reset = await fetch(`${base}/stats/reset`, { method: 'POST' });
    expect(await reset.json()).toEqual({
      writes: { total: 0, applied: 0, stalled: 0, abandoned: 0, inFlight: 0, maxInFlight: 0 },
      calls: { total: 0, byCaller: {} },
    });
    expect(standin.control.stats().calls.total).toBe(0);
  });
});

describe('contention over gRPC', () => {
  it('keeps stalled writes in flight and unapplied while reads go on answering', async () => {
    const { standin, client } = await start();
    standin.control.setContention({ enabled: true, ...EVERY_WRITE_STALLS });
    const root = standin.rootToken;
    const labels = Array.from({ length: 16 }, (_, i) => `stalled-${i}`);
    const abort = new AbortController();
    setMaxListeners(labels.length, abort.signal);
    const pending = labels.map((label) =>
      settle(
        client.call(AUTH, 'RestoreAuthToken', restoreRequest(label), {
          token: root,
          signal: abort.signal,
          deadlineMs: 60_000,
        }),
      ),
    );
    await eventually('16 stalled writes', () => writes(standin).stalled === 16);
    expect(writes(standin)).toMatchObject({ inFlight: 16, maxInFlight: 16, applied: 0 });

    expect((await client.call<{ username: string }>(AUTH, 'WhoAmI', {}, { token: root })).username).toBe('pach:root');
    await client.call('versionpb_v2.API', 'GetVersion', {});
    await client.call(AUTH, 'GetPermissions', { resource: { type: 1, name: '' } }, { token: root });
    expect(writes(standin)).toMatchObject({ total: 16, inFlight: 16 });

    abort.abort();
    const outcomes = await Promise.all(pending);
    expect(outcomes.map((outcome) => (outcome.ok ? 'ok' : outcome.error.code))).toEqual(
      labels.map(() => grpc.status.CANCELLED),
    );
    await eventually('the stand-in to see the cancellations', () => writes(standin).inFlight === 0);
    expect(writes(standin)).toEqual({ total: 16, applied: 0, stalled: 16, abandoned: 0, inFlight: 0, maxInFlight: 16 });
    expect(labels.filter((label) => tableHas(standin, label))).toEqual([]);
  });

  it('stalls writes that arrive with more than stallFrom in flight; exactly the others apply', async () => {
    const { standin, client } = await start();
    standin.control.setContention({
      enabled: true,
      stallFrom: 8,
      stallStep: 1,
      stallMax: 1,
      stallMaxMs: 300,
      baseMs: 100,
      ...FLAT,
    });
    const labels = Array.from({ length: 16 }, (_, i) => `burst-${i}`);
    const outcomes = await Promise.all(
      labels.map((label) =>
        settle(
          client.call(AUTH, 'RestoreAuthToken', restoreRequest(label), {
            token: standin.rootToken,
            deadlineMs: 20_000,
          }),
        ),
      ),
    );
    const failed = outcomes.flatMap((outcome) => (outcome.ok ? [] : [[outcome.error.code, outcome.error.details]]));
    const stats = writes(standin);
    expect(stats.stalled).toBeGreaterThan(0);
    expect(failed).toEqual(
      Array.from({ length: stats.stalled }, () => [grpc.status.UNKNOWN, 'context deadline exceeded']),
    );
    expect(stats).toMatchObject({ total: 16, applied: 16 - stats.stalled, abandoned: 0, inFlight: 0 });
    expect(stats.maxInFlight).toBeGreaterThan(8);
    const applied = labels.filter((_, i) => outcomes[i]?.ok === true);
    expect(labels.filter((label) => tableHas(standin, label))).toEqual(applied);
  });

  it('never stalls with 4 or fewer writes in flight on the defaults', async () => {
    const { standin, client } = await start({ contention: true });
    for (let round = 0; round < 10; round += 1) {
      await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          client.call(AUTH, 'GetRobotToken', { robot: `r${round}-${i}` }, { token: standin.rootToken }),
        ),
      );
    }
    const stats = writes(standin);
    expect(stats).toMatchObject({ total: 40, applied: 40, stalled: 0, abandoned: 0, inFlight: 0 });
    expect(stats.maxInFlight).toBeLessThanOrEqual(4);
  });

  it('abandons a waiting write whose deadline passes, without applying it', async () => {
    const { standin, client } = await start();
    standin.control.setContention({ enabled: true, ...NO_STALLS, ...FLAT, baseMs: 1000 });
    const root = standin.rootToken;
    const holder = settle(client.call(AUTH, 'RestoreAuthToken', restoreRequest('holder'), { token: root }));
    await eventually('the first write to hold the lock', () => writes(standin).total === 1);
    const waiter = await settle(
      client.call(AUTH, 'RestoreAuthToken', restoreRequest('waiter'), { token: root, deadlineMs: 100 }),
    );
    expect(waiter.ok ? 'ok' : waiter.error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await eventually('the waiter to be abandoned', () => writes(standin).abandoned === 1);
    expect((await holder).ok).toBe(true);
    expect(writes(standin)).toEqual({ total: 2, applied: 1, stalled: 0, abandoned: 1, inFlight: 0, maxInFlight: 2 });
    expect([tableHas(standin, 'holder'), tableHas(standin, 'waiter')]).toEqual([true, false]);
  });

  it('answers a stalled write UNKNOWN "context deadline exceeded" after stallMaxMs', async () => {
    const { standin, client } = await start();
    standin.control.setContention({ enabled: true, ...EVERY_WRITE_STALLS, stallMaxMs: 200 });
    const stalled = await client.failure(
      AUTH,
      'GetRobotToken',
      { robot: 'ci' },
      { token: standin.rootToken, deadlineMs: 20_000 },
    );
    expect([stalled.code, stalled.details]).toEqual([grpc.status.UNKNOWN, 'context deadline exceeded']);
    expect(writes(standin)).toMatchObject({ stalled: 1, applied: 0, inFlight: 0 });
    expect(standin.control.listTokens().map((view) => view.subject)).toEqual(['pach:root']);
  });

  it('lets injected errors answer before contention sees the write', async () => {
    const { standin, client } = await start();
    standin.control.setContention({ enabled: true, ...EVERY_WRITE_STALLS });
    standin.control.injectError({ method: 'GetRobotToken', code: 14, message: 'down', count: 1 });
    const injected = await client.failure(AUTH, 'GetRobotToken', { robot: 'ci' }, { token: standin.rootToken });
    expect([injected.code, injected.details]).toEqual([grpc.status.UNAVAILABLE, 'down']);
    expect(writes(standin)).toMatchObject({ total: 1, stalled: 0, inFlight: 0 });
  });
});

describe('contention control', () => {
  async function post(
    base: string,
    route: string,
    body: object,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${base}${route}`, { method: 'POST', body: JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  it('turns contention on with defaults filled in, shows it in GET /faults, and off again', async () => {
    const { standin } = await start();
    const base = String(standin.controlUrl);
    const on = await post(base, '/faults/contention', { enabled: true, seed: 9, stallMaxMs: 1000 });
    expect(on.status).toBe(200);
    expect(on.json['contention']).toEqual({ ...DEFAULT_CONTENTION_SETTINGS, seed: 9, stallMaxMs: 1000 });
    const faults = (await (await fetch(`${base}/faults`)).json()) as Record<string, unknown>;
    expect(faults['contention']).toEqual(on.json['contention']);
    const off = await post(base, '/faults/contention', { enabled: false });
    expect(off.json['contention']).toBeNull();
    expect(standin.control.faults().contention).toBeNull();
  });

  it('refuses bad contention requests with 400', async () => {
    const { standin } = await start();
    const base = String(standin.controlUrl);
    expect(await post(base, '/faults/contention', {})).toEqual({ status: 400, json: { error: 'enabled is required' } });
    const tooLikely = await post(base, '/faults/contention', { enabled: true, stallMax: 2 });
    expect(tooLikely).toEqual({ status: 400, json: { error: 'stallMax must be a probability (0 to 1), not 2' } });
    expect((await post(base, '/faults/contention', { enabled: true, baseMs: 'slow' })).status).toBe(400);
    expect(standin.control.faults().contention).toBeNull();
  });

  it('starts with contention on when asked to, and resetFaults turns it off', async () => {
    const { standin } = await start({ contention: { seed: 3 } });
    expect(standin.control.faults().contention).toEqual({ ...DEFAULT_CONTENTION_SETTINGS, seed: 3 });
    await standin.control.resetFaults();
    expect(standin.control.faults().contention).toBeNull();
  });
});
