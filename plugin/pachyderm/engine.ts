import type { Logger } from '../goplugin/logger';
import type { SystemView } from '../sdk/system-view';
import type { ConfigStore, ObservedPachd } from './config';
import type { PachdClients } from './pachd-clients';
import type { TlsCaStore } from './tls-ca-store';

/** The state one mount's paths share: its configuration, its way to pachd, its host and logger. */
export interface Engine {
  configs: ConfigStore;
  pachd: PachdClients;
  system: SystemView;
  logger: Logger;
  /** Copies of the CA certificates tokens' pachds were dialled with. */
  tlsCas: TlsCaStore;
  /** What pachd said about configurations stored unverified, by address, generation and admin token. */
  learnedObservations: Map<string, ObservedPachd>;
}
