import type { Logger } from '../../goplugin/logger';
import type { SystemView } from '../../sdk/system-view';
import type { ConfigStore } from './config';
import type { MountLeaseTtlCache } from './mount-lease-ttls';
import type { PachdClients } from './pachd-clients';
import type { PachdObservations } from './pachd-observations';
import type { TlsCaStore } from './tls-ca-store';

/** The state one mount's paths share: its configuration, its way to pachd, its host and logger. */
export interface Engine {
  configs: ConfigStore;
  pachd: PachdClients;
  system: SystemView;
  /** The mount's default and max lease TTLs, reused for a second (mount-lease-ttls.ts). */
  mountTtls: MountLeaseTtlCache;
  logger: Logger;
  /** Copies of the CA certificates tokens' pachds were dialled with. */
  tlsCas: TlsCaStore;
  /** Observations of pachd for configurations stored unverified. */
  observations: PachdObservations;
}
