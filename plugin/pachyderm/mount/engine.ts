import type { Logger } from '../../goplugin/logger';
import type { Storage } from '../../sdk/storage';
import type { SystemView } from '../../sdk/system-view';
import type { WalBatches } from '../../sdk/wal-batches';
import type { ConfigStore } from './config';
import type { DeadlineTimers } from './deadline-timers';
import type { MountLeaseTtlCache } from './mount-lease-ttls';
import type { PachdClients } from './pachd-clients';
import type { PachdObservations } from './pachd-observations';
import type { SerialRunner } from './serial-runner';
import type { TlsCaStore } from './tls-ca-store';

/** The state one mount's paths share: its configuration, its way to pachd, its host and logger. */
export interface Engine {
  configs: ConfigStore;
  pachd: PachdClients;
  system: SystemView;
  /** The mount's default and max lease TTLs, reused for a second (mount-lease-ttls.ts). */
  mountTtls: MountLeaseTtlCache;
  logger: Logger;
  /**
   * Each issuance logs its phase timings at trace (issuance/issuance-timing.ts): set by
   * `PLUGIN_ISSUANCE_TIMING=1` in the plugin's environment, as `make bench` does for its breakdown.
   */
  issuanceTiming: boolean;
  /** Copies of the CA certificates tokens' pachds were dialled with. */
  tlsCas: TlsCaStore;
  /** Observations of pachd for configurations stored unverified. */
  observations: PachdObservations;
  /**
   * Every change of a static role (write, rotation, retirement, delete, rollback) runs here, one at
   * a time, so none acts on a role another is changing; so do writes of other roles, whose check
   * against static robots' subjects must not interleave with a static role's check against them.
   */
  staticRoles: SerialRunner;
  /**
   * The mount's storage outside any request, for work no request carries (a grace's end). Writable
   * only where the host lets this node write; such work checks the rotation gate first.
   */
  storage: Storage;
  /** Revocations of static robots' replaced tokens at the end of their grace, by role name. */
  retirements: DeadlineTimers;
  /**
   * Issuances' journal entries written together while another write is in flight. Per mount: a
   * record goes through one member's request storage, which must be this mount's for all of them.
   */
  issuanceBatches: WalBatches;
}
