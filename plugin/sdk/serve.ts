import type { HandshakeConfig } from '../goplugin/launch-environment';
import { createLogger, levelFromEnvironment, type Logger } from '../goplugin/logger';
import { servePlugin } from '../goplugin/server';
import { BackendServer, type BackendFactory } from './backend-server';

/** The cookie Vault and OpenBao set when they start a backend (auth or secrets) plugin. */
export const VAULT_BACKEND_HANDSHAKE: HandshakeConfig = {
  cookieKey: 'VAULT_BACKEND_PLUGIN',
  cookieValue: '6669da05-b1c8-4f49-97d9-c8e5bed98e20',
};

/** Backend plugins speak protocol 5 (AutoMTLS, multiplexing, reported versions) and nothing older. */
export const VAULT_PROTOCOL_VERSIONS: readonly number[] = [5];

export interface ServeBackendOptions {
  /** The plugin's name: the log module and the OpenAPI operation prefix. */
  name: string;
  /** What someone who runs the executable by hand reads: how to install it in Vault instead. */
  runByHandMessage: string;
  /** Names the plugin in the certificate it presents to Vault. */
  certificateOrganization: string;
  /** `vX.Y.Z`. */
  version: string;
  factory: BackendFactory;
  multiplexing?: boolean;
  logger?: Logger;
}

/** Runs a Vault backend plugin process until Vault stops it. */
export async function serveBackend(options: ServeBackendOptions): Promise<void> {
  // Vault never tells a plugin its log level: it re-logs plugin lines through its own logger,
  // which drops what is below the server's level. So everything is emitted, as Go plugins do;
  // per-request lines stay at debug and few. PLUGIN_LOG_LEVEL (set with
  // `vault plugin register -env`) quiets a plugin at the source.
  // Secrets are a mount's own: each mount's logger and answers are guarded by its own redactor
  // (backend-server.ts), so the process-wide logger holds none.
  const logger = options.logger ?? createLogger({ module: options.name, level: levelFromEnvironment('trace') });
  let backendServer: BackendServer | undefined;
  await servePlugin({
    handshake: VAULT_BACKEND_HANDSHAKE,
    protocolVersions: VAULT_PROTOCOL_VERSIONS,
    runByHandMessage: options.runByHandMessage,
    certificateOrganization: options.certificateOrganization,
    logger,
    registerServices: (server, broker) => {
      backendServer = new BackendServer(
        {
          factory: options.factory,
          version: options.version,
          logger,
          multiplexing: options.multiplexing ?? true,
        },
        broker,
      );
      backendServer.register(server);
    },
    beforeExit: () => backendServer?.cleanupAll(),
  });
}

/** Vault compares reported versions with `v` + semver (`vault plugin register -version`). */
export function canonicalVersion(version: string): string {
  return version.startsWith('v') ? version : `v${version}`;
}
