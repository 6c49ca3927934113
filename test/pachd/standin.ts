import * as grpc from '@grpc/grpc-js';
import pino, { type Logger } from 'pino';

import { AuthV1Emulation } from './auth-v1-emulation';
import { AuthV2Emulation } from './auth-v2-emulation';
import { type ContentionSettings, contentionSettings } from './contention-model';
import { ControlHttpServer } from './control-http-server';
import { FaultInjector } from './fault-injector';
import { type ListenAddress, dialTarget, parseListenAddress, qualifiedPachdAddress } from './listen-address';
import type { PachdAuthEmulation } from './pachd-emulation';
import { PachdGrpcServer } from './pachd-grpc-server';
import { buildMethodTable } from './pachd-method-table';
import { authV2EnumNames, pachdProtoDefinitions } from './pachd-protos';
import { DEFAULT_PACHD_VERSION, type PachdGeneration, PachdVersion, checkVersionFitsGeneration } from './pachd-version';
import { StandinClock } from './standin-clock';
import { StandinControl } from './standin-control';
import { StandinStats } from './standin-stats';
import { TokenHistory } from './token-history';
import { WriteContention } from './write-contention';

export interface PachdStandinTls {
  /** PEM certificate chain the pachd port presents. */
  certPem: string | Buffer;
  keyPem: string | Buffer;
}

export interface PachdStandinOptions {
  /** 1 serves auth.API/versionpb.API, 2 serves auth_v2.API/versionpb_v2.API. */
  generation?: PachdGeneration;
  /** Release to emulate; 1.13.4 for generation 1 and 2.12.0 for generation 2 by default. */
  pachdVersion?: string;
  /** HOST:PORT or unix:///path; 127.0.0.1:0 (a free port) by default. */
  listen?: string;
  tls?: PachdStandinTls;
  /** 1.x ID-provider names accepted as subject prefixes; ["okta"] by default. */
  idps?: readonly string[];
  /** Plaintext of the bootstrap root token; random by default. */
  rootToken?: string;
  /** Where the HTTP control server listens; 127.0.0.1:0 by default, null for none. */
  controlListen?: string | null;
  /** Defaults to a silent logger, so in-process tests stay quiet. */
  logger?: Logger;
  /** Log every pachd call (debug level). */
  verbose?: boolean;
  /**
   * Start with token-write contention on: true for the calibrated defaults, or settings that
   * override some of them. Off by default; the control API can switch it later.
   */
  contention?: boolean | Partial<ContentionSettings>;
}

export interface PachdStandin {
  /** gRPC dial target: HOST:PORT, or unix:///path. */
  readonly address: string;
  /** pachctl-style address: grpc://HOST:PORT, grpcs://HOST:PORT or unix:///path. */
  readonly pachdAddress: string;
  readonly generation: PachdGeneration;
  readonly pachdVersion: string;
  readonly tls: boolean;
  /** The current root token (pach:root, admin, never expires); RotateRootToken changes it. */
  readonly rootToken: string;
  /** Base URL of the HTTP control server, when one was started. */
  readonly controlUrl: string | undefined;
  readonly control: StandinControl;
  stop(): Promise<void>;
}

/** The generation a version string implies, falling back to 2 (what clusters run today). */
function resolveGeneration(options: PachdStandinOptions): PachdGeneration {
  if (options.generation !== undefined) return options.generation;
  if (options.pachdVersion !== undefined) {
    const major = PachdVersion.parse(options.pachdVersion).major;
    if (major === 1 || major === 2) return major;
  }
  return 2;
}

function createEmulation(
  generation: PachdGeneration,
  version: PachdVersion,
  clock: StandinClock,
  history: TokenHistory,
  options: PachdStandinOptions,
): PachdAuthEmulation {
  const rootToken = options.rootToken === undefined ? {} : { rootToken: options.rootToken };
  if (generation === 1) {
    return new AuthV1Emulation({ version, clock, history, idps: options.idps ?? ['okta'], ...rootToken });
  }
  return new AuthV2Emulation({
    version,
    clock,
    history,
    permissionNames: authV2EnumNames('Permission'),
    resourceTypeNames: authV2EnumNames('ResourceType'),
    ...rootToken,
  });
}

/** Starts a pachd stand-in with auth already active and returns once both ports listen. */
export async function startPachdStandin(options: PachdStandinOptions = {}): Promise<PachdStandin> {
  const generation = resolveGeneration(options);
  const version = PachdVersion.parse(options.pachdVersion ?? DEFAULT_PACHD_VERSION[generation]);
  checkVersionFitsGeneration(version, generation);
  const logger = options.logger ?? pino({ level: 'silent' });
  const clock = new StandinClock();
  const faults = new FaultInjector();
  const stats = new StandinStats();
  const contention = new WriteContention(stats);
  if (options.contention !== undefined && options.contention !== false) {
    contention.configure(contentionSettings(options.contention === true ? {} : options.contention));
  }
  const history = new TokenHistory(clock);
  const emulation = createEmulation(generation, version, clock, history, options);
  const credentials =
    options.tls === undefined
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(
          null,
          [
            {
              cert_chain: Buffer.from(options.tls.certPem),
              private_key: Buffer.from(options.tls.keyPem),
            },
          ],
          false,
        );
  const grpcServer = new PachdGrpcServer({
    methods: buildMethodTable(pachdProtoDefinitions(), emulation, version),
    credentials,
    faults,
    contention,
    stats,
    logger,
    verbose: options.verbose ?? false,
  });
  const bound: ListenAddress = await grpcServer.listen(parseListenAddress(options.listen ?? '127.0.0.1:0'));
  const tls = options.tls !== undefined;
  const address = dialTarget(bound);
  const pachdAddress = qualifiedPachdAddress(bound, tls);
  const control = new StandinControl({
    emulation,
    clock,
    faults,
    contention,
    stats,
    history,
    grpcServer,
    logger,
    describe: () => ({ address, pachdAddress, generation, pachdVersion: version.toString(), tls }),
  });

  let controlServer: ControlHttpServer | undefined;
  let controlUrl: string | undefined;
  const controlListen = options.controlListen === undefined ? '127.0.0.1:0' : options.controlListen;
  if (controlListen !== null) {
    const controlAddress = parseListenAddress(controlListen);
    if (controlAddress.kind !== 'tcp') {
      await grpcServer.stop();
      throw new Error('the control server listens on HOST:PORT only');
    }
    controlServer = new ControlHttpServer(control, logger);
    try {
      controlUrl = await controlServer.listen(controlAddress.host, controlAddress.port);
    } catch (error) {
      await grpcServer.stop();
      throw error;
    }
  }
  logger.info({ address, generation, pachdVersion: version.toString(), tls, controlUrl }, 'pachd stand-in serving');

  let stopped = false;
  return {
    address,
    pachdAddress,
    generation,
    pachdVersion: version.toString(),
    tls,
    get rootToken(): string {
      return emulation.rootToken;
    },
    controlUrl,
    control,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      control.cancelComeBack();
      await grpcServer.stop();
      contention.stop();
      await controlServer?.close();
    },
  };
}
