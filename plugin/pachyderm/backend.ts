import { Backend, type BackendConfig } from '../sdk/framework';
import { PLUGIN_VERSION } from '../version';
import { versionPaths } from './path-version';

export const PLUGIN_NAME = 'pachyderm';
export const PLUGIN_DESCRIPTION = 'the Pachyderm secrets engine for HashiCorp Vault and OpenBao';

const BACKEND_HELP = `
The Pachyderm secrets engine issues short-lived Pachyderm (pachd) tokens behind Vault leases.
`;

export function createPachydermBackend(config: BackendConfig): Backend {
  return new Backend(
    {
      help: BACKEND_HELP,
      operationPrefix: PLUGIN_NAME,
      version: PLUGIN_VERSION,
      paths: [...versionPaths()],
    },
    config,
  );
}
