import type { Logger } from 'pino';

import { type ContentionSettings, contentionSettings } from './contention-model';
import type {
  CreateProjectSpec,
  CreateRepoSpec,
  CreateTokenSpec,
  CreatedToken,
  PachdAuthEmulation,
  ResourceBindingView,
  TokenView,
} from './pachd-emulation';
import type { ErrorFault, FaultInjector, FaultSnapshot } from './fault-injector';
import type { PachdGrpcServer } from './pachd-grpc-server';
import type { PachdGeneration } from './pachd-version';
import type { StandinClock } from './standin-clock';
import type { StandinStats, StatsSnapshot } from './standin-stats';
import type { HistoryToken, TokenHistory } from './token-history';
import type { WriteContention } from './write-contention';

export interface StandinInfo {
  address: string;
  pachdAddress: string;
  generation: PachdGeneration;
  pachdVersion: string;
  tls: boolean;
  rootToken: string;
  authActivated: boolean;
  serving: boolean;
}

export interface ClockView {
  now: string;
  nowMs: number;
  /** Virtual time added so far. */
  advancedMs: number;
}

export interface FaultView extends FaultSnapshot {
  unavailable: boolean;
  /** The token-write contention settings in force; null when it is off. */
  contention: ContentionSettings | null;
}

/** Turns contention on (fields left out take the calibrated defaults) or off. */
export interface ContentionRequest extends Partial<ContentionSettings> {
  enabled: boolean;
}

/**
 * The test-only control surface, in process. The HTTP control server is a thin JSON layer over
 * exactly these operations, so jest tests and Go tests steer the stand-in the same way.
 */
export class StandinControl {
  private comeBackTimer: NodeJS.Timeout | undefined;

  private readonly emulation: PachdAuthEmulation;
  private readonly clockSource: StandinClock;
  private readonly faultInjector: FaultInjector;
  private readonly contention: WriteContention;
  private readonly counters: StandinStats;
  private readonly history: TokenHistory;
  private readonly grpcServer: PachdGrpcServer;
  private readonly logger: Logger;
  private readonly describe: () => Omit<StandinInfo, 'rootToken' | 'authActivated' | 'serving'>;

  constructor(parts: {
    emulation: PachdAuthEmulation;
    clock: StandinClock;
    faults: FaultInjector;
    contention: WriteContention;
    stats: StandinStats;
    history: TokenHistory;
    grpcServer: PachdGrpcServer;
    logger: Logger;
    describe: () => Omit<StandinInfo, 'rootToken' | 'authActivated' | 'serving'>;
  }) {
    this.emulation = parts.emulation;
    this.clockSource = parts.clock;
    this.faultInjector = parts.faults;
    this.contention = parts.contention;
    this.counters = parts.stats;
    this.history = parts.history;
    this.grpcServer = parts.grpcServer;
    this.logger = parts.logger;
    this.describe = parts.describe;
  }

  info(): StandinInfo {
    return {
      ...this.describe(),
      rootToken: this.emulation.rootToken,
      authActivated: this.emulation.activated,
      serving: this.grpcServer.serving,
    };
  }

  listTokens(): TokenView[] {
    return this.emulation.listTokens();
  }

  createToken(spec: CreateTokenSpec): CreatedToken {
    return this.emulation.createToken(spec);
  }

  deleteToken(hash: string): boolean {
    return this.emulation.deleteToken(hash);
  }

  /** Every token inserted since the stand-in started, revoked and wiped ones included. */
  tokenHistory(): HistoryToken[] {
    return this.history.all();
  }

  /** Deletes tokens already past their expiry (2.x rows the 24-hour cleanup has not reached). */
  purgeExpiredTokens(): number {
    return this.emulation.purgeExpired();
  }

  clock(): ClockView {
    const nowMs = this.clockSource.nowMs();
    return { now: new Date(nowMs).toISOString(), nowMs, advancedMs: this.clockSource.advancedMs };
  }

  advanceClock(seconds: number): ClockView {
    this.clockSource.advance(seconds * 1000);
    return this.clock();
  }

  clusterRoleBindings(): Record<string, string[]> {
    return this.emulation.clusterRoleBindings();
  }

  /** 1.x roles: SUPER (admin) and FS. 2.x roles: clusterAdmin, robotUser, projectCreator. */
  setClusterRoles(principal: string, roles: readonly string[]): Record<string, string[]> {
    this.emulation.setClusterRoles(principal, roles);
    return this.emulation.clusterRoleBindings();
  }

  /**
   * Creates a repo as pfs would: 2.x names it `project/name` from 2.5 on (project `default` when
   * omitted) and binds `owner` repoOwner; 1.x gives `owner` OWNER on its ACL.
   */
  createRepo(spec: CreateRepoSpec): ResourceBindingView {
    return this.emulation.createRepo(spec);
  }

  /** Deletes a repo and its binding or ACL; false when there is no such repo. */
  deleteRepo(project: string | undefined, name: string): boolean {
    return this.emulation.deleteRepo(project, name);
  }

  /** 2.5+: creates a project, binding `owner` projectOwner. */
  createProject(spec: CreateProjectSpec): ResourceBindingView {
    return this.emulation.createProject(spec);
  }

  deleteProject(name: string): boolean {
    return this.emulation.deleteProject(name);
  }

  /** Every resource's bindings (cluster first), so a test can assert that none is left over. */
  resourceBindings(): ResourceBindingView[] {
    return this.emulation.resourceBindings();
  }

  /** Auth answers ErrNotActivated until activateAuth; `wipe` also forgets every token. */
  deactivateAuth(options: { wipe?: boolean } = {}): void {
    this.emulation.deactivate(options.wipe ?? false);
  }

  activateAuth(): { rootToken: string } {
    return { rootToken: this.emulation.activate() };
  }

  faults(): FaultView {
    return {
      ...this.faultInjector.snapshot(),
      unavailable: !this.grpcServer.serving,
      contention: this.contention.current(),
    };
  }

  /** Delays matching calls; `method` is "*", an RPC name or a full path; 0 ms removes it. */
  setLatency(method: string | undefined, milliseconds: number): FaultView {
    this.faultInjector.setLatency(method, milliseconds);
    return this.faults();
  }

  injectError(fault: ErrorFault): FaultView {
    this.faultInjector.addError(fault);
    return this.faults();
  }

  clearErrors(method?: string): FaultView {
    this.faultInjector.clearErrors(method);
    return this.faults();
  }

  /**
   * Token writes slow down and stall with the number in flight, as on a loaded pachd 2.11.6
   * (contention-model.ts). Enabling again restarts the random sequence from the seed.
   */
  setContention(request: ContentionRequest): FaultView {
    const { enabled, ...overrides } = request;
    this.contention.configure(enabled ? contentionSettings(overrides) : null);
    return this.faults();
  }

  /**
   * Closes the pachd listener and drops its connections. With `durationMs` it comes back by
   * itself; otherwise it stays down until makeAvailable or resetFaults.
   */
  makeUnavailable(options: { durationMs?: number } = {}): FaultView {
    this.cancelComeBack();
    this.grpcServer.goDown();
    if (options.durationMs !== undefined) {
      this.comeBackTimer = setTimeout(() => {
        this.comeBackTimer = undefined;
        this.grpcServer.comeBack().catch((error: unknown) => {
          this.logger.error({ err: error }, 'pachd port could not come back on its address');
        });
      }, options.durationMs);
    }
    return this.faults();
  }

  async makeAvailable(): Promise<FaultView> {
    this.cancelComeBack();
    await this.grpcServer.comeBack();
    return this.faults();
  }

  /** Clears latency and error injection, turns contention off, brings the port back if down. */
  async resetFaults(): Promise<FaultView> {
    this.faultInjector.reset();
    this.contention.configure(null);
    return this.makeAvailable();
  }

  /** What reached the pachd port: calls, and token writes with the most ever in flight at once. */
  stats(): StatsSnapshot {
    return this.counters.snapshot();
  }

  resetStats(): StatsSnapshot {
    this.counters.reset();
    return this.counters.snapshot();
  }

  /** Stops a pending automatic come-back; used when the stand-in shuts down. */
  cancelComeBack(): void {
    if (this.comeBackTimer !== undefined) clearTimeout(this.comeBackTimer);
    this.comeBackTimer = undefined;
  }
}
