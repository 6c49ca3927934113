import { createPachydermBackend, PLUGIN_DESCRIPTION, PLUGIN_NAME } from './pachyderm/backend';
import { PLUGIN_VERSION } from './pachyderm/version';
import { serveBackend } from './sdk/serve';

const RUN_BY_HAND_MESSAGE =
  `This executable is ${PLUGIN_DESCRIPTION}: a plugin that Vault or OpenBao starts itself, ` +
  "not a program to run by hand. Put it in the server's plugin directory, register it " +
  'with `vault plugin register -sha256=<sha256> secret <name>` and mount it with ' +
  '`vault secrets enable <name>`; the server then launches it when needed.';

void serveBackend({
  name: PLUGIN_NAME,
  runByHandMessage: RUN_BY_HAND_MESSAGE,
  certificateOrganization: 'pachyderm-vault-plugin',
  version: PLUGIN_VERSION,
  factory: createPachydermBackend,
});
