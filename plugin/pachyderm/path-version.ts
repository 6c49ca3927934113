import { definePath, type Path } from '../sdk/path';
import { PLUGIN_VERSION } from './version';
import type { Engine } from './mount/engine';
import { vaultErrorFromPachd } from './mount/upstream-errors';

/**
 * The plugin's version, and pachd's: `vault read pachyderm/version`. `node_version` is the Node.js
 * running the plugin (in the single executable, the embedded one), so an operator or a scanner's
 * finding can be checked against the running runtime rather than the build's notes.
 */
export function versionPaths(engine: Engine): Path[] {
  return [
    definePath({
      pattern: 'version/client-only',
      helpSynopsis: "The plugin's own version and its Node.js version, without asking pachd.",
      operations: {
        read: async () => ({ data: { 'client-version': PLUGIN_VERSION, node_version: process.version } }),
      },
    }),
    definePath({
      pattern: 'version',
      helpSynopsis: "The plugin's version and the configured pachd's version and API generation.",
      operations: {
        read: async (request) => {
          const config = await engine.configs.require(request.storage);
          const connection = engine.pachd.connection(config);
          const pachd = await engine.pachd.version(connection, true).catch((error: unknown) => {
            throw vaultErrorFromPachd(error, 'cannot read the pachd version');
          });
          return {
            data: {
              'client-version': PLUGIN_VERSION,
              node_version: process.version,
              'server-version': pachd.version,
              pachd_generation: pachd.generation,
              pachd_address: connection.address.canonical,
            },
          };
        },
      },
    }),
  ];
}
