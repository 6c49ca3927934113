import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generatePluginCertificate } from '../../plugin/goplugin/certificate';
import { unaryMethod } from '../../plugin/grpc/grpc-call';
import { GrpcStatus } from '../../plugin/grpc/grpc-status';
import { Http2UnaryClient } from '../../plugin/grpc/http2-unary-client';
import { serviceDefinition } from '../../plugin/grpc/proto-loading';
import { goPluginDefinitions, type ConnInfo } from '../../plugin/goplugin/protos';
import { createLogger, type Logger } from '../../plugin/goplugin/logger';
import { startPluginServer, type RunningPluginServer } from '../../plugin/goplugin/server';
import { healthImplementation } from '../../plugin/goplugin/standard-services';

const healthService = serviceDefinition(goPluginDefinitions, 'grpc.health.v1.Health');
const check = unaryMethod<{ service: string }, { status: number }>(healthService, 'Check');
const brokerService = serviceDefinition(goPluginDefinitions, 'plugin.GRPCBroker');
const BrokerClient = grpc.makeGenericClientConstructor(brokerService, 'GRPCBroker');
const controllerService = serviceDefinition(goPluginDefinitions, 'plugin.GRPCController');
const shutdown = unaryMethod<object, object>(controllerService, 'Shutdown');

function pemFromHandshake(line: string): string {
  const der = Buffer.from(line.split('|')[5] ?? '', 'base64');
  const body = der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** A logger whose lines a test can wait for: the broker's trace line says an announcement arrived. */
function observedLogger(): {
  logger: Logger;
  logged: (message: string, fields: Record<string, unknown>) => Promise<void>;
} {
  const lines = new EventEmitter();
  const logger = createLogger({ module: 'test', level: 'trace', write: (line) => lines.emit('line', line) });
  const logged = (message: string, fields: Record<string, unknown>) =>
    new Promise<void>((resolve) => {
      const listener = (line: string) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry['@message'] !== message || Object.entries(fields).some(([key, value]) => entry[key] !== value))
          return;
        lines.off('line', listener);
        resolve();
      };
      lines.on('line', listener);
    });
  return { logger, logged };
}

describe('go-plugin server over AutoMTLS', () => {
  const host = generatePluginCertificate('host');
  const stranger = generatePluginCertificate('stranger');
  // Each test gets a server of its own: one that stops it, or leaves state in its broker, cannot
  // change what another sees.
  let directory: string;
  let running: RunningPluginServer;
  let pluginPem: string;
  let logged: ReturnType<typeof observedLogger>['logged'];
  let clients: { close(): void }[];

  beforeEach(async () => {
    directory = mkdtempSync(path.join(tmpdir(), 'gp-'));
    clients = [];
    const observed = observedLogger();
    logged = observed.logged;
    running = await startPluginServer(
      {
        handshake: { cookieKey: 'K', cookieValue: 'V' },
        protocolVersions: [5],
        runByHandMessage: 'run by hand',
        certificateOrganization: 'test',
        logger: observed.logger,
        registerServices: () => undefined,
      },
      {
        protocolVersion: 5,
        hostCertificatePem: host.certificatePem,
        socketDirectory: directory,
        socketGroup: undefined,
        brokerMultiplexRequested: false,
      },
    );
    pluginPem = pemFromHandshake(running.handshakeLine);
  });

  afterEach(async () => {
    for (const client of clients) client.close();
    await running.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  function client<T extends grpc.Client>(
    Ctor: new (address: string, credentials: grpc.ChannelCredentials) => T,
    identity = host,
  ): T {
    const credentials = grpc.credentials.createSsl(
      Buffer.from(pluginPem),
      Buffer.from(identity.privateKeyPem),
      Buffer.from(identity.certificatePem),
    );
    const made = new Ctor(`unix:${running.socketPath}`, credentials);
    clients.push(made);
    return made;
  }

  /** The plugin's own unary client, as the host would dial the plugin: mutual TLS on its socket. */
  function unaryClient(identity = host): Http2UnaryClient {
    const made = new Http2UnaryClient({
      target: { socketPath: running.socketPath },
      tls: { ca: pluginPem, cert: identity.certificatePem, key: identity.privateKeyPem },
    });
    clients.push(made);
    return made;
  }

  it('prints a handshake naming its socket and pinned certificate', () => {
    const fields = running.handshakeLine.split('|');
    expect(fields.slice(0, 5)).toEqual(['1', '5', 'unix', running.socketPath, 'grpc']);
    expect(path.dirname(running.socketPath)).toBe(directory);
    expect(existsSync(running.socketPath)).toBe(true);
  });

  it('serves health to the host over mutual TLS', async () => {
    const reply = await check.call(unaryClient(), { service: 'plugin' }, { deadline: Date.now() + 5000 });
    expect(reply.status).toBe(1);
  });

  it('refuses a client that does not present the host certificate', async () => {
    await expect(
      check.call(unaryClient(stranger), { service: 'plugin' }, { deadline: Date.now() + 5000 }),
    ).rejects.toMatchObject({
      code: GrpcStatus.UNAVAILABLE,
    });
  });

  it('dials what the host announces on the broker stream, with its own certificate as client certificate', async () => {
    // Play the host: a TLS server trusting only the plugin's certificate, announced by id.
    const hostServer = new grpc.Server();
    hostServer.addService(healthService, healthImplementation());
    const hostSocket = path.join(directory, 'host.sock');
    await new Promise<void>((resolve, reject) =>
      hostServer.bindAsync(
        `unix:${hostSocket}`,
        grpc.ServerCredentials.createSsl(
          Buffer.from(pluginPem),
          [{ private_key: Buffer.from(host.privateKeyPem), cert_chain: Buffer.from(host.certificatePem) }],
          true,
        ),
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    const stream = client(BrokerClient).makeBidiStreamRequest(
      '/plugin.GRPCBroker/StartStream',
      brokerService.StartStream!.requestSerialize,
      brokerService.StartStream!.responseDeserialize,
    );
    try {
      const dialing = running.broker.dial(7, 5000);
      const announcement: ConnInfo = { service_id: 7, network: 'unix', address: hostSocket, knock: null };
      stream.write(announcement);
      const viaBroker = await dialing;
      expect((await check.call(viaBroker, { service: '' }, { deadline: Date.now() + 5000 })).status).toBe(1);
      viaBroker.close();

      // An announcement that arrives before anyone dials waits for its dialer.
      const announced = logged('broker announcement', { service_id: 8 });
      stream.write({ ...announcement, service_id: 8 });
      await announced;
      const early = await running.broker.dial(8, 1000);
      early.close();
    } finally {
      stream.end();
      hostServer.forceShutdown();
    }
  });

  it('gives up on an id nobody announces', async () => {
    await expect(running.broker.dial(99, 100)).rejects.toThrow(/timeout waiting for connection info for broker id 99/);
  });

  it('reports the host asking for shutdown, and removes its socket when stopped', async () => {
    let requested = false;
    const stopRequested = running.stopRequested.then(() => {
      requested = true;
    });
    await shutdown.call(unaryClient(), {}, { deadline: Date.now() + 5000 });
    await stopRequested;
    expect(requested).toBe(true);
    await running.stop();
    expect(existsSync(running.socketPath)).toBe(false);
  });
});
