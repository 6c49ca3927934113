/**
 * @file
 * The server side of HashiCorp's go-plugin protocol over gRPC with AutoMTLS: what a host such
 * as Vault needs from any plugin process, independent of what the plugin does.
 */

import * as grpc from '@grpc/grpc-js';
import { chownSync, chmodSync, readFileSync, rmSync } from 'node:fs';
import { Broker } from './broker';
import { generatePluginCertificate } from './certificate';
import {
  chooseSocketPath,
  handshakeLine,
  LaunchError,
  readLaunchEnvironment,
  type HandshakeConfig,
  type LaunchEnvironment,
} from './launch-environment';
import type { Logger } from './logger';
import { serviceDefinition } from '../grpc/proto-loading';
import { goPluginDefinitions } from './protos';
import { controllerImplementation, healthImplementation, stdioImplementation } from './standard-services';

export interface PluginServerOptions {
  handshake: HandshakeConfig;
  protocolVersions: readonly number[];
  /** What someone who ran the executable by hand reads: how its host is meant to start it. */
  runByHandMessage: string;
  /** Names the plugin in its certificate. */
  certificateOrganization: string;
  logger: Logger;
  /** Adds the application's own services. */
  registerServices(server: grpc.Server, broker: Broker): void;
  /** Last words before the process exits at the host's request; bounded by the exit deadline. */
  beforeExit?(): Promise<void> | void;
}

export interface RunningPluginServer {
  readonly socketPath: string;
  readonly handshakeLine: string;
  readonly broker: Broker;
  /** Settles when the host asks the plugin to stop (`GRPCController/Shutdown`). */
  readonly stopRequested: Promise<void>;
  /** Stops serving and removes the socket. */
  stop(): Promise<void>;
}

// The host kills a plugin that has not exited 2 s after asking; leave room for process exit.
const EXIT_DEADLINE_MS = 1500;
const GRACEFUL_SHUTDOWN_MS = 200;
const PARENT_CHECK_INTERVAL_MS = 1000;

const UNLIMITED_MESSAGES: grpc.ServerOptions = {
  // Vault sends up to 2 GiB (large storage entries, big request bodies); grpc-js stops at 4 MiB.
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
};

/** Starts the server on a fresh Unix socket. Prints nothing and never exits the process. */
export async function startPluginServer(
  options: PluginServerOptions,
  launch: LaunchEnvironment,
): Promise<RunningPluginServer> {
  const certificate = generatePluginCertificate(options.certificateOrganization);
  const socketPath = chooseSocketPath(launch.socketDirectory);
  const broker = new Broker(
    {
      hostCertificatePem: launch.hostCertificatePem,
      certificatePem: certificate.certificatePem,
      privateKeyPem: certificate.privateKeyPem,
    },
    options.logger.named('broker'),
  );

  let requestStop: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });

  const server = new grpc.Server(UNLIMITED_MESSAGES);
  const service = (name: string) => serviceDefinition(goPluginDefinitions, name);
  server.addService(service('grpc.health.v1.Health'), healthImplementation());
  server.addService(service('plugin.GRPCBroker'), broker.implementation());
  server.addService(
    service('plugin.GRPCController'),
    controllerImplementation(() => requestStop()),
  );
  server.addService(service('plugin.GRPCStdio'), stdioImplementation());
  options.registerServices(server, broker);

  // Only the host's certificate may connect: it is both the trust root and the required client.
  const credentials = grpc.ServerCredentials.createSsl(
    Buffer.from(launch.hostCertificatePem),
    [
      {
        private_key: Buffer.from(certificate.privateKeyPem),
        cert_chain: Buffer.from(certificate.certificatePem),
      },
    ],
    true,
  );
  await bind(server, `unix:${socketPath}`, credentials);
  if (launch.socketGroup !== undefined) giveSocketToGroup(socketPath, launch.socketGroup);

  let stopped: Promise<void> | undefined;
  return {
    socketPath,
    handshakeLine: handshakeLine({
      protocolVersion: launch.protocolVersion,
      socketPath,
      certificateDer: certificate.certificateDer,
      brokerMultiplexRequested: launch.brokerMultiplexRequested,
    }),
    broker,
    stopRequested,
    stop: () => {
      stopped ??= (async () => {
        broker.close();
        await shutDown(server);
        rmSync(socketPath, { force: true });
      })();
      return stopped;
    },
  };
}

/**
 * The whole life of a plugin process: check how it was launched, serve, print the handshake
 * line, and exit when the host asks, when the host process dies, or on SIGTERM.
 */
export async function servePlugin(options: PluginServerOptions): Promise<void> {
  const logger = options.logger;
  keepStdoutForHandshake(logger);
  routeLibraryLogs(logger);

  let launch: LaunchEnvironment;
  try {
    launch = readLaunchEnvironment(process.env, options.handshake, options.protocolVersions, options.runByHandMessage);
  } catch (error) {
    failLaunch(error, logger);
  }

  // Ctrl-C in the host's terminal reaches the whole process group; the host decides when we stop.
  process.on('SIGINT', () => logger.debug('ignoring SIGINT; the host stops this plugin'));
  process.on('uncaughtException', (error) => {
    logger.error('plugin crashed', { error: error.stack ?? error.message });
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled promise rejection', { error: toLogText(reason) });
  });

  let running: RunningPluginServer;
  try {
    running = await startPluginServer(options, launch);
  } catch (error) {
    failLaunch(error, logger);
  }
  writeHandshake(running.handshakeLine);
  logger.debug('plugin serving', { socket: running.socketPath, protocol: launch.protocolVersion });

  const reason = await Promise.race([
    running.stopRequested.then(() => 'host requested shutdown'),
    parentGone(),
    signal('SIGTERM'),
  ]);
  logger.debug('plugin stopping', { reason });
  const deadline = delay(EXIT_DEADLINE_MS);
  await Promise.race([
    (async () => {
      try {
        await options.beforeExit?.();
      } catch (error) {
        logger.warn('cleanup before exit failed', { error: toLogText(error) });
      }
      await running.stop();
    })(),
    deadline,
  ]);
  rmSync(running.socketPath, { force: true });
  process.exit(0);
}

function failLaunch(error: unknown, logger: Logger): never {
  if (error instanceof LaunchError && error.forHumans) {
    // Someone ran the executable by hand: plain words, no JSON.
    process.stderr.write(`${error.message}\n`);
  } else {
    // The host started us: an hclog line shows up in its log at error level.
    logger.error(`plugin cannot start: ${toLogText(error)}`);
  }
  process.exit(1);
}

let originalStdoutWrite: typeof process.stdout.write | undefined;

/**
 * The host reads the first stdout line as the handshake, so nothing else may ever go there.
 * Anything a library prints is rerouted to the log instead.
 */
function keepStdoutForHandshake(logger: Logger): void {
  const stray = logger.named('stdout');
  originalStdoutWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stray.debug(typeof chunk === 'string' ? chunk.trimEnd() : Buffer.from(chunk).toString().trimEnd());
    return true;
  }) as typeof process.stdout.write;
  const toLog =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) =>
      stray[level](args.map(toLogText).join(' '));
  console.log = toLog('info');
  console.info = toLog('info');
  console.debug = toLog('debug');
  console.warn = toLog('warn');
  console.error = toLog('error');
}

function writeHandshake(line: string): void {
  (originalStdoutWrite ?? process.stdout.write.bind(process.stdout))(`${line}\n`);
}

function routeLibraryLogs(logger: Logger): void {
  const grpcLogger = logger.named('grpc');
  grpc.setLogger({
    error: (...args: unknown[]) => grpcLogger.warn(args.map(toLogText).join(' ')),
  });
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error) => (error ? reject(error) : resolve()));
  });
}

/** Lets in-flight calls finish briefly; the broker and stdio streams never end on their own. */
function shutDown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, GRACEFUL_SHUTDOWN_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

function giveSocketToGroup(socketPath: string, group: string): void {
  const gid = /^\d+$/.test(group) ? Number(group) : groupIdByName(group);
  chownSync(socketPath, process.getuid?.() ?? -1, gid);
  chmodSync(socketPath, 0o660);
}

function groupIdByName(name: string): number {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [groupName, , gid] = line.split(':');
    if (groupName === name && gid !== undefined) return Number(gid);
  }
  throw new LaunchError(`PLUGIN_UNIX_SOCKET_GROUP names unknown group ${JSON.stringify(name)}`);
}

/**
 * go-plugin servers wait for the host forever; a Node process whose host was SIGKILLed would
 * linger as an orphan. Re-parenting (to init or a subreaper) means the host is gone.
 */
function parentGone(): Promise<string> {
  const parent = process.ppid;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(timer);
        resolve('host process exited');
      }
    }, PARENT_CHECK_INTERVAL_MS);
    timer.unref();
  });
}

function signal(name: NodeJS.Signals): Promise<string> {
  return new Promise((resolve) => process.once(name, () => resolve(`received ${name}`)));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function toLogText(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
