import { version } from '../../package.json';
import { canonicalVersion } from '../sdk/serve';

/** The plugin's version as Vault compares it: `v` + package.json's version. */
export const PLUGIN_VERSION = canonicalVersion(version);
