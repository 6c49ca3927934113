import type { Redactor } from '../goplugin/redactor';
import { badRequest } from '../sdk/errors';
import { getJson, putJson, type Storage } from '../sdk/storage';
import type { PachdGeneration } from './pachd/authority';

/**
 * The mount's configuration as stored under `config` (seal-wrapped where the seal can). The
 * admin token lives only here; everything learned about it from pachd is kept beside it so
 * that reads can describe it without ever returning it.
 */
export const CONFIG_KEY = 'config';
const STORAGE_VERSION = 1;

export type GenerationSetting = 'auto' | '1' | '2';

export interface EngineConfig {
  version: number;
  pachd_address: string;
  admin_token: string;
  /** 0 means "use the mount's default". */
  ttl_seconds: number;
  /** 0 means "use the mount's maximum". */
  max_ttl_seconds: number;
  pachd_tls_ca: string;
  request_timeout_seconds: number;
  generation: GenerationSetting;
  /** What pachd said when the configuration was last verified. */
  observed?: ObservedPachd;
}

export interface ObservedPachd {
  generation: PachdGeneration;
  pachd_version: string;
  admin_subject: string;
  /** ISO time, or null when the admin token never expires. */
  admin_expires_at: string | null;
  can_mint_users: boolean;
  can_mint_robots: boolean;
  verified_at: string;
}

export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 10;

/** Reads and writes the configuration, keeping the parsed copy until it changes. */
export class ConfigStore {
  private cached: EngineConfig | null | undefined;

  constructor(private readonly redactor: Redactor) {}

  async load(storage: Storage): Promise<EngineConfig | undefined> {
    if (this.cached === undefined) {
      const stored = await getJson<EngineConfig>(storage, CONFIG_KEY);
      this.remember(stored ?? null);
    }
    return this.cached ?? undefined;
  }

  /** The configuration, or a 400 telling the operator to write it. */
  async require(storage: Storage): Promise<EngineConfig> {
    const config = await this.load(storage);
    if (config === undefined) {
      throw badRequest('the pachyderm secrets engine is not configured yet: write pachd_address and admin_token to <mount>/config');
    }
    return config;
  }

  async save(storage: Storage, config: EngineConfig): Promise<void> {
    await putJson(storage, CONFIG_KEY, { ...config, version: STORAGE_VERSION }, { sealWrap: true });
    this.remember(config);
  }

  async delete(storage: Storage): Promise<void> {
    await storage.delete(CONFIG_KEY);
    this.remember(null);
  }

  /** Another node changed the configuration. */
  invalidate(): void {
    this.cached = undefined;
  }

  private remember(config: EngineConfig | null): void {
    // Whatever else goes wrong, this value never reaches an answer or a log line. Retired admin
    // tokens stay registered: other mounts of a multiplexed process may share one, and they are few.
    if (config !== null) this.redactor.add(config.admin_token);
    this.cached = config;
  }
}
