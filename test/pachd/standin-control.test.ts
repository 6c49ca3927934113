// The HTTP control surface and the command-line launcher (scripts/pachd-standin).
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

import * as grpc from '@grpc/grpc-js';

import { DEFAULT_CONTENTION_SETTINGS } from './contention-model';
import { PachdTestClient, sha256Hex } from './pachd-test-client';
import { type PachdStandin, startPachdStandin } from './standin';

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(generation: 1 | 2): Promise<{ standin: PachdStandin; client: PachdTestClient; control: string }> {
  const standin = await startPachdStandin({ generation });
  const client = new PachdTestClient(standin.address);
  cleanups.push(async () => {
    client.close();
    await standin.stop();
  });
  if (standin.controlUrl === undefined) throw new Error('no control URL');
  return { standin, client, control: standin.controlUrl };
}

async function request(
  base: string,
  method: string,
  route: string,
  body?: object,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${base}${route}`, init);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('HTTP control server', () => {
  it('describes the stand-in', async () => {
    const { standin, control } = await start(2);
    const { status, json } = await request(control, 'GET', '/info');
    expect(status).toBe(200);
    expect(json).toMatchObject({
      address: standin.address,
      generation: 2,
      pachdVersion: '2.12.0',
      rootToken: standin.rootToken,
      authActivated: true,
      serving: true,
      tls: false,
    });
  });

  it('creates principals with roles, lists tokens by hash, and moves the clock', async () => {
    const { client, control } = await start(2);
    const created = await request(control, 'POST', '/tokens', {
      subject: 'robot:vault',
      ttlSeconds: 120,
      roles: ['robotUser'],
    });
    expect(created.status).toBe(200);
    const token = String(created.json['token']);
    expect(created.json['hash']).toBe(sha256Hex(token));
    const minted = await client.call<{ token: string }>('auth_v2.API', 'GetRobotToken', { robot: 'x' }, { token });
    expect(minted.token).toMatch(/^[0-9a-f]{32}$/);

    const roles = await request(control, 'GET', '/roles');
    expect(roles.json['bindings']).toMatchObject({ 'robot:vault': ['robotUser'], 'pach:root': ['clusterAdmin'] });

    const listed = await request(control, 'GET', '/tokens');
    const tokens = listed.json['tokens'] as Array<Record<string, unknown>>;
    const entry = tokens.find((view) => view['hash'] === sha256Hex(token));
    expect(entry).toMatchObject({ subject: 'robot:vault', expired: false });
    expect(JSON.stringify(listed.json)).not.toContain(token);

    const advanced = await request(control, 'POST', '/clock/advance', { seconds: 121 });
    expect(advanced.json['advancedMs']).toBe(121000);
    const expired = await client.failure('auth_v2.API', 'WhoAmI', {}, { token });
    expect([expired.code, expired.details]).toEqual([grpc.status.INTERNAL, 'token expiration is in the past']);
    const purged = await request(control, 'POST', '/tokens/purge-expired');
    expect(purged.json['deleted']).toBe(1);
    expect((await client.failure('auth_v2.API', 'WhoAmI', {}, { token })).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('grants and revokes 1.x admin, deactivates and reactivates auth', async () => {
    const { standin, client, control } = await start(1);
    const alice = await request(control, 'POST', '/tokens', { subject: 'github:alice' });
    const token = String(alice.json['token']);
    const denied = await client.failure('auth.API', 'GetAuthToken', { subject: 'robot:x' }, { token });
    expect(denied.details).toContain('must be an admin to call GetAuthToken on behalf of another user');
    await request(control, 'PUT', '/roles', { principal: 'github:alice', roles: ['SUPER'] });
    const me = await client.call<{ is_admin: boolean }>('auth.API', 'WhoAmI', {}, { token });
    expect(me.is_admin).toBe(true);
    await request(control, 'PUT', '/roles', { principal: 'github:alice', roles: [] });
    expect((await client.call<{ is_admin: boolean }>('auth.API', 'WhoAmI', {}, { token })).is_admin).toBe(false);

    await request(control, 'POST', '/auth/deactivate');
    expect((await client.failure('auth.API', 'WhoAmI', {}, { token })).code).toBe(grpc.status.UNIMPLEMENTED);
    const reactivated = await request(control, 'POST', '/auth/activate');
    expect(reactivated.json).toEqual({ activated: true, rootToken: standin.rootToken });
    expect((await client.call<{ username: string }>('auth.API', 'WhoAmI', {}, { token })).username).toBe(
      'github:alice',
    );

    const rootBeforeWipe = standin.rootToken;
    await request(control, 'POST', '/auth/deactivate', { wipe: true });
    const wiped = await request(control, 'POST', '/auth/activate');
    expect(wiped.json['rootToken']).not.toBe(rootBeforeWipe);
    expect(wiped.json['rootToken']).toBe(standin.rootToken);
    expect((await client.failure('auth.API', 'WhoAmI', {}, { token })).code).toBe(grpc.status.UNAUTHENTICATED);
    const newRoot = await client.call<{ username: string }>('auth.API', 'WhoAmI', {}, { token: standin.rootToken });
    expect(newRoot.username).toBe('pach:root');
  });

  it('injects errors, latency and unavailability, and resets them', async () => {
    const { standin, client, control } = await start(1);
    const injected = await request(control, 'POST', '/faults/error', {
      method: 'WhoAmI',
      code: 14,
      message: 'flaky',
      count: 1,
    });
    expect(injected.json['errors']).toEqual([{ method: 'WhoAmI', code: 14, message: 'flaky', remaining: 1 }]);
    expect((await client.failure('auth.API', 'WhoAmI', {}, { token: standin.rootToken })).details).toBe('flaky');
    await request(control, 'POST', '/faults/latency', { ms: 50 });
    expect((await request(control, 'GET', '/faults')).json['latencyMs']).toEqual({ '*': 50 });
    const down = await request(control, 'POST', '/faults/unavailable');
    expect(down.json['unavailable']).toBe(true);
    const contended = await request(control, 'POST', '/faults/contention', { enabled: true });
    expect(contended.json['contention']).not.toBeNull();
    const reset = await request(control, 'POST', '/faults/reset');
    expect(reset.json).toEqual({ latencyMs: {}, errors: [], unavailable: false, contention: null });
  });

  it('rejects unknown routes and malformed bodies', async () => {
    const { control } = await start(2);
    expect((await request(control, 'GET', '/nope')).status).toBe(404);
    const missing = await request(control, 'POST', '/tokens', {});
    expect([missing.status, missing.json['error']]).toEqual([400, 'subject is required']);
    const badRole = await request(control, 'PUT', '/roles', { principal: 'robot:x', roles: ['SUPER'] });
    expect(badRole.status).toBe(400);
    expect(String(badRole.json['error'])).toContain('not "SUPER"');
    expect((await request(control, 'DELETE', `/tokens/${'0'.repeat(64)}`)).status).toBe(404);
  });
});

describe('scripts/pachd-standin', () => {
  function launch(args: string[]): ChildProcessWithoutNullStreams {
    const script = path.resolve(__dirname, '../../scripts/pachd-standin');
    const child = spawn(script, args, { stdio: 'pipe' });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) resolve();
          else {
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }
        }),
    );
    return child;
  }

  it('prints one JSON line, serves, and exits cleanly on SIGTERM', async () => {
    const child = launch(['--generation', '1', '--idp', 'corp', '--root-token', 'ab'.repeat(16)]);
    const lines: string[] = [];
    const reader = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      reader.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
    });
    reader.on('line', (line) => lines.push(line));
    const announced = JSON.parse(first) as Record<string, unknown>;
    expect(announced).toMatchObject({
      generation: 1,
      pachd_version: '1.13.4',
      root_token: 'ab'.repeat(16),
      tls: false,
    });
    expect(String(announced['address'])).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(announced['pachd_address']).toBe(`grpc://${String(announced['address'])}`);
    expect(String(announced['control'])).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const client = new PachdTestClient(String(announced['address']));
    cleanups.push(() => client.close());
    const minted = await client.call<{ subject: string }>(
      'auth.API',
      'GetAuthToken',
      { subject: 'corp:bob' },
      { token: 'ab'.repeat(16) },
    );
    expect(minted.subject).toBe('corp:bob');

    const exitCode = await new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
    expect(exitCode).toBe(0);
    expect(lines).toEqual([]);
  }, 60000);

  it('starts with contention on under --contention', async () => {
    const child = launch(['--contention']);
    const first = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
    });
    const control = String((JSON.parse(first) as Record<string, unknown>)['control']);
    const faults = await request(control, 'GET', '/faults');
    expect(faults.json['contention']).toEqual(DEFAULT_CONTENTION_SETTINGS);
  }, 60000);

  it('refuses bad arguments with usage on stderr', async () => {
    const child = launch(['--generation', '3']);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(exitCode).toBe(2);
    expect(stderr).toContain('--generation must be 1 or 2');
  }, 60000);
});
