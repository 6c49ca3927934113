import { createPachydermBackend, PLUGIN_DESCRIPTION, PLUGIN_NAME } from './pachyderm/backend';
import { serveBackend } from './sdk/serve';
import { PLUGIN_VERSION } from './pachyderm/version';

void serveBackend({
  name: PLUGIN_NAME,
  description: PLUGIN_DESCRIPTION,
  version: PLUGIN_VERSION,
  factory: createPachydermBackend,
});
