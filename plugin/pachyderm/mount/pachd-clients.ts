import { unaryMethod } from '../../grpc/grpc-call';
import { badRequest } from '../../sdk/errors';
import type { EngineConfig } from './config';
import { DEFAULT_MAX_WRITES_IN_FLIGHT, DEFAULT_REQUEST_TIMEOUT_SECONDS } from './config';
import { AddressError, parsePachdAddress, type PachdAddress } from '../pachd/address';
import { PachdAuthV1 } from '../pachd/auth-v1';
import { PachdAuthV2 } from '../pachd/auth-v2';
import type { PachdAuthApi, PachdGeneration } from '../pachd/auth-api';
import { callGateFor } from '../pachd/call-gate';
import { PachdClientPool, PachdConnection } from '../pachd/connection';
import { PachdError } from '../pachd/errors';
import { pachdDefinitions, type WireVersion } from '../pachd/protos';
import { PachdRelease } from '../pachd/release';

export interface PachdVersionInfo {
  generation: PachdGeneration;
  /** `major.minor.micro` with `additional` appended, as pachctl prints it. */
  version: string;
}

/** Where a token lives: the pachd that issued it, as a lease or a journal entry records it. */
export interface TokenHome {
  pachd_address: string;
  generation: PachdGeneration;
  /**
   * The CA certificates that pachd was dialled with (tls-ca-store.ts); "" for the system roots,
   * absent in leases and entries written before homes carried them (token-home.ts).
   */
  pachd_tls_ca_sha256?: string;
}

type ConnectionSettings = Pick<
  EngineConfig,
  'pachd_address' | 'pachd_tls_ca' | 'request_timeout_seconds' | 'pachd_max_in_flight'
>;

/** Five minutes, half the WAL's rollback grace (wal-rollback.ts). */
export const MAX_REQUEST_BUDGET_MS = 5 * 60 * 1000;

const getVersionV2 = unaryMethod<object, WireVersion>(pachdDefinitions.service('versionpb_v2.API'), 'GetVersion');
const getVersionV1 = unaryMethod<object, WireVersion>(pachdDefinitions.service('versionpb.API'), 'GetVersion');

/**
 * How a mount reaches pachd: one pooled client per address and TLS setting, the generation
 * found from the version APIs (or forced by configuration), and the matching auth API. Token
 * writes go through the process-wide gate of their pachd address.
 */
export class PachdClients {
  private readonly pool = new PachdClientPool();
  private readonly versions = new Map<string, PachdVersionInfo>();

  /**
   * A connection to `address` (default: the configured address) with the configuration's TLS,
   * call timeout and bound on token writes, spending at most until `deadline` (ms since the epoch).
   */
  connection(
    config: ConnectionSettings,
    options: { address?: string; deadline?: number | undefined } = {},
  ): PachdConnection {
    const address = parseAddress(options.address ?? config.pachd_address);
    const tlsCa = address.tls && config.pachd_tls_ca !== '' ? config.pachd_tls_ca : undefined;
    const timeoutSeconds =
      config.request_timeout_seconds > 0 ? config.request_timeout_seconds : DEFAULT_REQUEST_TIMEOUT_SECONDS;
    // However long the host waits, one request spends at most this long on pachd: the WAL's
    // rollback grace must outlast any call the request makes.
    const deadline = Math.min(options.deadline ?? Infinity, Date.now() + MAX_REQUEST_BUDGET_MS);
    return new PachdConnection(address, this.pool, tlsCa, timeoutSeconds * 1000, {
      deadline,
      maxWritesInFlight: config.pachd_max_in_flight ?? DEFAULT_MAX_WRITES_IN_FLIGHT,
      gate: callGateFor(address.canonical),
    });
  }

  /** pachd's version and generation; asks 2.x's API first and falls back to 1.x's. */
  async version(connection: PachdConnection, refresh = false): Promise<PachdVersionInfo> {
    const key = connection.address.canonical;
    const known = this.versions.get(key);
    if (known !== undefined && !refresh) return known;
    let info: PachdVersionInfo;
    try {
      info = { generation: 2, version: versionText(await connection.call(getVersionV2, {})) };
    } catch (error) {
      if (!(error instanceof PachdError) || error.failure !== 'unimplemented') throw error;
      info = { generation: 1, version: versionText(await connection.call(getVersionV1, {})) };
    }
    if (info.version.startsWith('1.') && info.generation === 2) info.generation = 1;
    this.versions.set(key, info);
    return info;
  }

  /** The generation to speak: forced by configuration, observed when the configuration was verified, or asked. */
  async generation(config: EngineConfig, connection: PachdConnection): Promise<PachdGeneration> {
    if (config.generation === '1') return 1;
    if (config.generation === '2') return 2;
    if (config.observed !== undefined && isConfiguredAddress(config, connection.address))
      return config.observed.generation;
    return (await this.version(connection)).generation;
  }

  /**
   * The auth API of `generation` at the connection's pachd. Behaviour that changed between
   * releases follows the release pachd reports; when it cannot be asked, only what every
   * release of the generation does is assumed.
   */
  async authApi(
    connection: PachdConnection,
    generation: PachdGeneration,
    knownVersion?: string,
  ): Promise<PachdAuthApi> {
    let version = knownVersion;
    if (version === undefined) {
      version = await this.version(connection).then(
        (info) => info.version,
        () => undefined,
      );
    }
    const release = version === undefined ? undefined : PachdRelease.parse(version);
    return generation === 1 ? new PachdAuthV1(connection, release) : new PachdAuthV2(connection, release);
  }

  /** The configured pachd's auth API, for a request that must finish by `deadline`. */
  async configuredAuthApi(config: EngineConfig, deadline?: number): Promise<PachdAuthApi> {
    const connection = this.connection(config, { deadline });
    const generation = await this.generation(config, connection);
    return this.authApi(connection, generation, config.observed?.pachd_version);
  }

  /**
   * The auth API of the pachd a token lives at. `configured`: it is the configured pachd, reached
   * as configured (its CA, timeout and bound). Otherwise it is dialled with `homeTlsCa` (the
   * system roots when empty or absent), the configuration's call timeout and bound, or the
   * defaults once it is gone.
   */
  async authApiAt(
    config: EngineConfig | undefined,
    home: TokenHome,
    options: { deadline?: number | undefined; configured: boolean; homeTlsCa?: string | undefined },
  ): Promise<PachdAuthApi> {
    const settings: ConnectionSettings =
      options.configured && config !== undefined
        ? config
        : {
            pachd_address: home.pachd_address,
            pachd_tls_ca: options.homeTlsCa ?? '',
            request_timeout_seconds: config?.request_timeout_seconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS,
            pachd_max_in_flight: config?.pachd_max_in_flight ?? DEFAULT_MAX_WRITES_IN_FLIGHT,
          };
    const connection = this.connection(settings, { address: home.pachd_address, deadline: options.deadline });
    const version = options.configured ? config?.observed?.pachd_version : undefined;
    return this.authApi(connection, home.generation, version);
  }

  close(): void {
    this.pool.closeAll();
    this.versions.clear();
  }
}

/** Whether `address` is the pachd the configuration names (the only one the admin token may go to). */
export function isConfiguredAddress(
  config: Pick<EngineConfig, 'pachd_address'>,
  address: PachdAddress | string,
): boolean {
  const canonical = typeof address === 'string' ? parseAddress(address).canonical : address.canonical;
  return canonical === parseAddress(config.pachd_address).canonical;
}

export function parseAddress(text: string): PachdAddress {
  try {
    return parsePachdAddress(text);
  } catch (error) {
    if (error instanceof AddressError) throw badRequest(`pachd_address: ${error.message}`);
    throw error;
  }
}

function versionText(version: WireVersion): string {
  return `${version.major}.${version.minor}.${version.micro}${version.additional}`;
}
