import { unaryMethod } from '../goplugin/grpc-call';
import { badRequest } from '../sdk/errors';
import type { EngineConfig } from './config';
import { DEFAULT_REQUEST_TIMEOUT_SECONDS } from './config';
import { AddressError, parsePachdAddress, type PachdAddress } from './pachd/address';
import { PachdAuthV1 } from './pachd/auth-v1';
import { PachdAuthV2 } from './pachd/auth-v2';
import type { PachdAuthority, PachdGeneration } from './pachd/authority';
import { PachdChannelPool, PachdConnection } from './pachd/connection';
import { PachdError } from './pachd/errors';
import { pachdDefinitions, type WireVersion } from './pachd/protos';

/**
 * How a mount reaches pachd: one pooled channel per address and TLS setting, the generation
 * found from the version APIs (or forced by configuration), and the matching auth API.
 */
export interface PachdVersionInfo {
  generation: PachdGeneration;
  /** `major.minor.micro` with `additional` appended, as pachctl prints it. */
  version: string;
}

const getVersionV2 = unaryMethod<object, WireVersion>(pachdDefinitions.service('versionpb_v2.API'), 'GetVersion');
const getVersionV1 = unaryMethod<object, WireVersion>(pachdDefinitions.service('versionpb.API'), 'GetVersion');

export class PachdAccess {
  private readonly pool = new PachdChannelPool();
  private readonly versions = new Map<string, PachdVersionInfo>();

  /** A connection to `addressText` (default: the configured address) with the config's TLS and deadline. */
  connection(config: Pick<EngineConfig, 'pachd_address' | 'pachd_tls_ca' | 'request_timeout_seconds'>, addressText?: string): PachdConnection {
    const address = parseAddress(addressText ?? config.pachd_address);
    const tlsCa = address.tls && config.pachd_tls_ca !== '' ? config.pachd_tls_ca : undefined;
    const timeoutSeconds = config.request_timeout_seconds > 0 ? config.request_timeout_seconds : DEFAULT_REQUEST_TIMEOUT_SECONDS;
    return new PachdConnection(address, this.pool, tlsCa, timeoutSeconds * 1000);
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

  /** The generation to speak: forced by configuration, learned at configuration time, or asked. */
  async generation(config: EngineConfig, connection: PachdConnection): Promise<PachdGeneration> {
    if (config.generation === '1') return 1;
    if (config.generation === '2') return 2;
    if (config.observed !== undefined && connection.address.canonical === parseAddress(config.pachd_address).canonical) {
      return config.observed.generation;
    }
    return (await this.version(connection)).generation;
  }

  authority(connection: PachdConnection, generation: PachdGeneration): PachdAuthority {
    return generation === 1 ? new PachdAuthV1(connection) : new PachdAuthV2(connection);
  }

  /** The configured pachd's auth API. */
  async configuredAuthority(config: EngineConfig): Promise<PachdAuthority> {
    const connection = this.connection(config);
    return this.authority(connection, await this.generation(config, connection));
  }

  close(): void {
    this.pool.closeAll();
    this.versions.clear();
  }
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
