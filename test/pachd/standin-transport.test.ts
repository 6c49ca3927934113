// Transport-level behaviour: the other generation's services, fault injection, losing and
// regaining the port, TLS and unix sockets.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import * as grpc from '@grpc/grpc-js';
import pino from 'pino';

import { PachdTestClient } from './pachd-test-client';
import { type PachdStandin, type PachdStandinOptions, startPachdStandin } from './standin';
import { makeLocalhostCertificate } from './tls-fixture';

const cleanups: Array<() => Promise<void> | void> = [];

async function start(
  options: PachdStandinOptions,
  credentials?: grpc.ChannelCredentials,
): Promise<{ standin: PachdStandin; client: PachdTestClient }> {
  const standin = await startPachdStandin(options);
  const client = new PachdTestClient(standin.address, credentials);
  cleanups.push(async () => {
    client.close();
    await standin.stop();
  });
  return { standin, client };
}

/**
 * A client with its own subchannel pool: grpc-js otherwise shares the subchannel (and its
 * reconnect backoff) of the earlier client, hiding whether the port is back right away.
 */
function freshClient(address: string): PachdTestClient {
  const client = new PachdTestClient(address, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  cleanups.push(() => client.close());
  return client;
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; elapsedMs: number }> {
  const startedAt = performance.now();
  const result = await work();
  return { result, elapsedMs: performance.now() - startedAt };
}

function tcpConnect(address: string): Promise<'connected' | string> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('the other generation', () => {
  it('answers 2.x services on a 1.x stand-in with grpc-go wording', async () => {
    const { client, standin } = await start({ generation: 1 });
    const auth = await client.failure('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken });
    expect([auth.code, auth.details]).toEqual([grpc.status.UNIMPLEMENTED, 'unknown service auth_v2.API']);
    const version = await client.failure('versionpb_v2.API', 'GetVersion', {});
    expect([version.code, version.details]).toEqual([grpc.status.UNIMPLEMENTED, 'unknown service versionpb_v2.API']);
    const robot = await client.rawFailure('/auth.API/GetRobotToken');
    expect([robot.code, robot.details]).toEqual([
      grpc.status.UNIMPLEMENTED,
      'unknown method GetRobotToken for service auth.API',
    ]);
  });

  it('answers 1.x services on a 2.x stand-in with grpc-go wording', async () => {
    const { client, standin } = await start({ generation: 2 });
    const mint = await client.failure('auth.API', 'GetAuthToken', { subject: 'robot:x' }, { token: standin.rootToken });
    expect([mint.code, mint.details]).toEqual([grpc.status.UNIMPLEMENTED, 'unknown service auth.API']);
    const version = await client.failure('versionpb.API', 'GetVersion', {});
    expect([version.code, version.details]).toEqual([grpc.status.UNIMPLEMENTED, 'unknown service versionpb.API']);
    const extend = await client.rawFailure('/auth_v2.API/ExtendAuthToken');
    expect([extend.code, extend.details]).toEqual([
      grpc.status.UNIMPLEMENTED,
      'unknown method ExtendAuthToken for service auth_v2.API',
    ]);
  });

  it('uses the older grpc-go wordings of pachd 1.8', async () => {
    const early = await start({ generation: 1, pachdVersion: '1.8.0' });
    expect((await early.client.rawFailure('/auth.API/GetRobotToken')).details).toBe('unknown method GetRobotToken');
    const later = await start({ generation: 1, pachdVersion: '1.8.5' });
    expect((await later.client.rawFailure('/auth.API/GetRobotToken')).details).toBe('unknown service auth.API');
  });
});

describe('latency injection', () => {
  it('delays the chosen method only, and can outlast a deadline', async () => {
    const { standin, client } = await start({ generation: 1 });
    standin.control.setLatency('WhoAmI', 300);
    const slow = await timed(() => client.call('auth.API', 'WhoAmI', {}, { token: standin.rootToken }));
    expect(slow.elapsedMs).toBeGreaterThanOrEqual(280);
    const fast = await timed(() => client.call('versionpb.API', 'GetVersion', {}));
    expect(fast.elapsedMs).toBeLessThan(250);
    const late = await client.failure('auth.API', 'WhoAmI', {}, { token: standin.rootToken, deadlineMs: 100 });
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('delays every method with "*" and stops when set to 0', async () => {
    const { standin, client } = await start({ generation: 2 });
    standin.control.setLatency('*', 200);
    expect((await timed(() => client.call('versionpb_v2.API', 'GetVersion', {}))).elapsedMs).toBeGreaterThanOrEqual(
      180,
    );
    standin.control.setLatency('*', 0);
    expect((await timed(() => client.call('versionpb_v2.API', 'GetVersion', {}))).elapsedMs).toBeLessThan(150);
  });
});

describe('error injection', () => {
  it('fails N calls of one method with the given status, then recovers', async () => {
    const { standin, client } = await start({ generation: 1 });
    const root = standin.rootToken;
    standin.control.injectError({
      method: 'GetAuthToken',
      code: grpc.status.UNAVAILABLE,
      message: 'pachd overloaded',
      count: 2,
    });
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const failure = await client.failure('auth.API', 'GetAuthToken', { subject: 'robot:x' }, { token: root });
      expect([failure.code, failure.details]).toEqual([grpc.status.UNAVAILABLE, 'pachd overloaded']);
    }
    await expect(client.call('auth.API', 'WhoAmI', {}, { token: root })).resolves.toHaveProperty(
      'username',
      'pach:root',
    );
    const third = await client.call<{ subject: string }>(
      'auth.API',
      'GetAuthToken',
      { subject: 'robot:x' },
      { token: root },
    );
    expect(third.subject).toBe('robot:x');
  });

  it('keeps failing until cleared when no count is given', async () => {
    const { standin, client } = await start({ generation: 2 });
    standin.control.injectError({ method: '/auth_v2.API/WhoAmI', code: grpc.status.INTERNAL, message: 'db down' });
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect((await client.failure('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken })).details).toBe('db down');
    }
    expect(standin.control.faults().errors).toHaveLength(1);
    await standin.control.resetFaults();
    expect(standin.control.faults().errors).toHaveLength(0);
    await expect(client.call('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken })).resolves.toHaveProperty(
      'username',
      'pach:root',
    );
  });
});

describe('unavailability', () => {
  it('refuses connections while down and serves again on the same address', async () => {
    const { standin, client } = await start({ generation: 1 });
    const minted = await client.call<{ token: string }>(
      'auth.API',
      'GetAuthToken',
      { subject: 'robot:kept', ttl: 600 },
      { token: standin.rootToken },
    );
    expect(await tcpConnect(standin.address)).toBe('connected');
    standin.control.makeUnavailable();
    expect(standin.control.info().serving).toBe(false);
    expect(await tcpConnect(standin.address)).toBe('ECONNREFUSED');
    const down = await client.failure('auth.API', 'WhoAmI', {}, { token: minted.token });
    expect(down.code).toBe(grpc.status.UNAVAILABLE);
    await standin.control.makeAvailable();
    expect(await tcpConnect(standin.address)).toBe('connected');
    const again = freshClient(standin.address);
    const me = await again.call<{ username: string }>('auth.API', 'WhoAmI', {}, { token: minted.token });
    expect(me.username).toBe('robot:kept');
  });

  it('comes back by itself after durationMs', async () => {
    const { standin, client } = await start({ generation: 2 });
    standin.control.makeUnavailable({ durationMs: 300 });
    expect(await tcpConnect(standin.address)).toBe('ECONNREFUSED');
    const { result, elapsedMs } = await timed(() =>
      client.call<{ username: string }>('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken, waitForReady: true }),
    );
    expect(result.username).toBe('pach:root');
    expect(elapsedMs).toBeGreaterThanOrEqual(250);
  });
});

describe('TLS and unix sockets', () => {
  it('serves TLS that a client trusting the certificate can use', async () => {
    const certificate = makeLocalhostCertificate();
    cleanups.push(() => certificate.remove());
    const trusted = grpc.credentials.createSsl(certificate.certPem);
    const { standin, client } = await start(
      { generation: 2, tls: { certPem: certificate.certPem, keyPem: certificate.keyPem } },
      trusted,
    );
    expect(standin.pachdAddress).toBe(`grpcs://${standin.address}`);
    const me = await client.call<{ username: string }>('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken });
    expect(me.username).toBe('pach:root');
    const plaintext = freshClient(standin.address);
    const refused = await plaintext.failure('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken });
    expect(refused.code).toBe(grpc.status.UNAVAILABLE);
    const untrusting = new PachdTestClient(standin.address, grpc.credentials.createSsl());
    cleanups.push(() => untrusting.close());
    expect((await untrusting.failure('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken })).code).toBe(
      grpc.status.UNAVAILABLE,
    );
  });

  it('listens on a unix socket and comes back on it', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'pachd-standin-sock-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const socket = path.join(directory, 'pachd.sock');
    const { standin, client } = await start({ generation: 2, listen: `unix://${socket}` });
    expect(standin.address).toBe(`unix://${socket}`);
    expect(standin.pachdAddress).toBe(`unix://${socket}`);
    expect(
      (await client.call<{ username: string }>('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken })).username,
    ).toBe('pach:root');
    standin.control.makeUnavailable();
    expect((await client.failure('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken })).code).toBe(
      grpc.status.UNAVAILABLE,
    );
    await standin.control.makeAvailable();
    const again = freshClient(standin.address);
    expect(
      (await again.call<{ username: string }>('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken })).username,
    ).toBe('pach:root');
  });
});

describe('logging', () => {
  async function logLinesAfterOneCall(verbose: boolean): Promise<string[]> {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const { standin, client } = await start({ generation: 2, logger, verbose });
    lines.length = 0;
    await client.call('auth_v2.API', 'WhoAmI', {}, { token: standin.rootToken });
    return lines;
  }

  it('logs nothing per call unless verbose', async () => {
    expect(await logLinesAfterOneCall(false)).toEqual([]);
    const verbose = await logLinesAfterOneCall(true);
    expect(verbose).toHaveLength(1);
    expect(JSON.parse(verbose[0] ?? '{}')).toMatchObject({ path: '/auth_v2.API/WhoAmI', code: 0, msg: 'pachd call' });
  });
});
