/**
 * @file
 * Where one issuance's time went, phase by phase, for the trace log (`make bench` prints it as
 * the issuance breakdown). Off unless asked for (`PLUGIN_ISSUANCE_TIMING=1`, engine.ts) and the
 * mount logs at trace: two lines per issuance that Vault, at its usual level, parses only to
 * drop. A disabled timer reads no clock.
 * Durations only: nothing here names a token, a subject or a value.
 */

import type { Logger } from '../../goplugin/logger';

export class IssuanceTiming {
  private last: number;
  private readonly phases: Record<string, number> = {};

  constructor(private readonly enabled: boolean) {
    this.last = enabled ? performance.now() : 0;
  }

  static for(requested: boolean, logger: Logger): IssuanceTiming {
    return new IssuanceTiming(requested && logger.isLevelEnabled('trace'));
  }

  /** Ends a phase: the time since the previous one ended (or the timer began), in ms. */
  lap(phase: string): void {
    if (!this.enabled) return;
    const now = performance.now();
    this.phases[`${phase}_ms`] = Math.round((now - this.last) * 1000) / 1000;
    this.last = now;
  }

  log(logger: Logger, message: string): void {
    if (this.enabled) logger.trace(message, this.phases);
  }
}
