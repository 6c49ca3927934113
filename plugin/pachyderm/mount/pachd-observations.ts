import type { EngineConfig, PachdObservation } from './config';
import { tokenFingerprint } from '../pachd/token-material';

/** Observations of configurations stored unverified, by address, generation and admin token. */
export class PachdObservations {
  private readonly byConfig = new Map<string, PachdObservation>();

  recall(config: EngineConfig): PachdObservation | undefined {
    return this.byConfig.get(PachdObservations.key(config));
  }

  keep(config: EngineConfig, observation: PachdObservation): void {
    this.byConfig.set(PachdObservations.key(config), observation);
  }

  /** The configuration changed or went away: observe pachd again. */
  clear(): void {
    this.byConfig.clear();
  }

  private static key(config: EngineConfig): string {
    return `${config.pachd_address}\u0000${config.generation}\u0000${tokenFingerprint(config.admin_token)}`;
  }
}
