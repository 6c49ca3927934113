import type { Redactor } from '../goplugin/redactor';
import { badRequest, internalError } from '../sdk/errors';
import type { Request } from '../sdk/logical';
import { getJson, putJson, type Storage } from '../sdk/storage';
import type { PachdGeneration } from './pachd/auth-api';
import { SerialRunner } from './serial-runner';

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
  /** 0 means "the engine's default, capped by the mount's". */
  ttl_seconds: number;
  /** 0 means "the engine's default, capped by the mount's". */
  max_ttl_seconds: number;
  pachd_tls_ca: string;
  request_timeout_seconds: number;
  generation: GenerationSetting;
  /**
   * Token writes this process may have in flight at this pachd; 0: no bound. Absent in
   * configurations written before it existed.
   */
  pachd_max_in_flight?: number;
  /** What pachd said when the configuration was last verified. */
  observed?: ObservedPachd;
}

export interface ObservedPachd {
  generation: PachdGeneration;
  pachd_version: string;
  admin_subject: string;
  /** ISO time, or null when the admin token never expires. */
  admin_expires_at: string | null;
  /** 2.x: holds CLUSTER_AUTH_RESTORE_TOKEN; 1.x: is an admin. */
  can_mint_users: boolean;
  can_mint_robots: boolean;
  verified_at: string;
}

export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 10;
/**
 * Longer, and grpc-js would take a deadline past ~24.8 days as none at all; a hung pachd would then
 * hold a request forever.
 */
export const MAX_REQUEST_TIMEOUT_SECONDS = 300;
/**
 * Two token writes at a time keep a pachd busy without queueing in its database: one is in
 * flight while the answer of the other travels back. A real pachd 2.11.6 served ~400 writes/s
 * one at a time, ~200/s with 4 in flight and collapsed with 16.
 */
export const DEFAULT_MAX_WRITES_IN_FLIGHT = 2;
export const MAX_WRITES_IN_FLIGHT_LIMIT = 64;

/**
 * Reads and writes the configuration, keeping the parsed copy until it changes. Every writer of
 * the configuration (config writes and deletes, rotations, a rotation's completion in rollback)
 * runs through `update`, one at a time, and sees the stored configuration as the writer before
 * it left it.
 */
export class ConfigStore {
  private cached: EngineConfig | null | undefined;
  private readonly writers = new SerialRunner();

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
    if (config === undefined) throw notConfigured();
    return config;
  }

  /**
   * Runs `change` alone among the configuration's writers, with the configuration read afresh
   * from storage (a cached copy could predate the last writer on another node).
   */
  update<T>(
    request: Pick<Request, 'storage' | 'cancelled' | 'deadline'>,
    change: (current: EngineConfig | undefined, writer: ConfigWriter) => Promise<T>,
  ): Promise<T> {
    const storage = request.storage;
    return this.writers.run(async () => {
      // A writer whose caller gave up while it waited for its turn changes nothing.
      if (request.cancelled() || (request.deadline !== undefined && Date.now() >= request.deadline)) {
        throw internalError('the request was cancelled while it waited for another configuration change to finish');
      }
      const stored = await getJson<EngineConfig>(storage, CONFIG_KEY);
      this.remember(stored ?? null);
      return change(stored, {
        save: (config) => this.save(storage, config),
        delete: () => this.delete(storage),
      });
    });
  }

  /** Another node changed the configuration. */
  invalidate(): void {
    this.cached = undefined;
  }

  /** Registers a value that may become the admin token, before anything could echo it. */
  protect(adminToken: string): void {
    this.redactor.add(adminToken);
  }

  private async save(storage: Storage, config: EngineConfig): Promise<void> {
    this.protect(config.admin_token);
    await putJson(storage, CONFIG_KEY, { ...config, version: STORAGE_VERSION }, { sealWrap: true });
    this.remember(config);
  }

  private async delete(storage: Storage): Promise<void> {
    await storage.delete(CONFIG_KEY);
    this.remember(null);
  }

  private remember(config: EngineConfig | null): void {
    // Whatever else goes wrong, this value never reaches an answer or a log line. Retired admin
    // tokens stay registered: other mounts of a multiplexed process may share one, and they are few.
    if (config !== null) this.protect(config.admin_token);
    this.cached = config;
  }
}

/** What a writer holding the configuration may do with it. */
export interface ConfigWriter {
  save(config: EngineConfig): Promise<void>;
  delete(): Promise<void>;
}

export function notConfigured(): Error {
  return badRequest(
    'the pachyderm secrets engine is not configured yet: write pachd_address and admin_token to <mount>/config',
  );
}
