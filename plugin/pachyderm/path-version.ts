import type { PathDefinition } from '../sdk/framework';
import { PLUGIN_VERSION } from '../version';

export function versionPaths(): PathDefinition[] {
  return [
    {
      pattern: 'version/client-only',
      helpSynopsis: "The plugin's own version.",
      operations: {
        read: async () => ({ data: { 'client-version': PLUGIN_VERSION } }),
      },
    },
  ];
}
