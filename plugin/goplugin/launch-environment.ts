/**
 * @file
 * What a go-plugin host tells its plugin through the environment when it starts it, read and
 * checked before anything is printed. See docs/plugin-protocol.md §2-4.
 */

import { randomInt } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The magic cookie a host sets so that a plugin knows it was not started by hand. */
export interface HandshakeConfig {
  cookieKey: string;
  cookieValue: string;
}

export interface LaunchEnvironment {
  protocolVersion: number;
  /** PEM of the host's one-off certificate: the only client (and broker server) we trust. */
  hostCertificatePem: string;
  /** Where to create the listening socket. */
  socketDirectory: string;
  /** Group that must own the socket (containerized plugins), as a gid or a group name. */
  socketGroup: string | undefined;
  /** The host asked whether brokered connections may ride the main one (containers only). */
  brokerMultiplexRequested: boolean;
}

/** Why the plugin refuses to start; `forHumans` errors are for someone who ran it by hand. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly forHumans: boolean = false,
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}

// Linux's sun_path holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 107;

export function readLaunchEnvironment(
  env: NodeJS.ProcessEnv,
  handshake: HandshakeConfig,
  supportedVersions: readonly number[],
  /** What someone who ran the executable by hand reads: how its host is meant to start it. */
  runByHandMessage: string,
): LaunchEnvironment {
  if (env[handshake.cookieKey] !== handshake.cookieValue) throw new LaunchError(runByHandMessage, true);

  const protocolVersion = negotiateVersion(env.PLUGIN_PROTOCOL_VERSIONS, supportedVersions);

  const hostCertificatePem = env.PLUGIN_CLIENT_CERT ?? '';
  if (hostCertificatePem.trim() === '') {
    throw new LaunchError(
      'PLUGIN_CLIENT_CERT is not set, so the host did not start this plugin with AutoMTLS. ' +
        'This plugin only speaks plugin protocol 5 with AutoMTLS (Vault 1.12 or newer, ' +
        'OpenBao 2.x); the legacy VAULT_UNWRAP_TOKEN TLS setup is not supported.',
    );
  }

  const socketDirectory = nonEmpty(env.PLUGIN_UNIX_SOCKET_DIR) ?? tmpdir();
  return {
    protocolVersion,
    hostCertificatePem,
    socketDirectory,
    socketGroup: nonEmpty(env.PLUGIN_UNIX_SOCKET_GROUP),
    brokerMultiplexRequested: nonEmpty(env.PLUGIN_MULTIPLEX_GRPC) !== undefined,
  };
}

/** The highest version both sides speak, as go-plugin chooses it. */
export function negotiateVersion(offered: string | undefined, supportedVersions: readonly number[]): number {
  const offeredVersions = (offered ?? '')
    .split(',')
    .map((part) => Number.parseInt(part.trim(), 10))
    .filter((version) => Number.isInteger(version));
  const common = supportedVersions.filter((version) => offeredVersions.includes(version));
  if (common.length === 0) {
    const what = offeredVersions.length > 0 ? `versions ${offeredVersions.join(', ')}` : 'no version';
    throw new LaunchError(
      `The host offered plugin protocol ${what} (PLUGIN_PROTOCOL_VERSIONS=` +
        `${JSON.stringify(offered ?? '')}), but this plugin speaks only protocol ` +
        `${supportedVersions.join(', ')}, which needs Vault 1.12 or newer or OpenBao 2.x.`,
    );
  }
  return Math.max(...common);
}

/** A fresh socket path in the directory, named as go-plugin names its own (`plugin<digits>`). */
export function chooseSocketPath(directory: string): string {
  const socketPath = path.join(path.resolve(directory), `plugin${randomInt(1e9, 1e10 - 1)}`);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new LaunchError(
      `socket path ${socketPath} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix ` +
        'socket address can hold; point PLUGIN_UNIX_SOCKET_DIR or TMPDIR at a shorter directory',
    );
  }
  return socketPath;
}

/**
 * The single line a go-plugin server prints on stdout:
 * `CORE|APP|NETWORK|ADDRESS|PROTOCOL|CERT[|MUX]`. The certificate is base64 without padding
 * (Go's RawStdEncoding rejects `=`), and the seventh field appears only when the host asked,
 * because older hosts split the line into at most six fields.
 */
export function handshakeLine(options: {
  protocolVersion: number;
  socketPath: string;
  certificateDer: Buffer;
  brokerMultiplexRequested: boolean;
}): string {
  const fields = [
    '1',
    String(options.protocolVersion),
    'unix',
    options.socketPath,
    'grpc',
    options.certificateDer.toString('base64').replace(/=+$/, ''),
  ];
  // Brokered connections are always dialled separately here, never multiplexed.
  if (options.brokerMultiplexRequested) fields.push('false');
  return fields.join('|');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
