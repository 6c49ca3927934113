import type { Redactor, Release } from '../../goplugin/redactor';
import { badRequest, internalError } from '../../sdk/errors';
import type { Request } from '../../sdk/logical';
import { getJson, putJson, type Storage } from '../../sdk/storage';
import type { PachdGeneration } from '../pachd/auth-api';
import { SerialRunner } from './serial-runner';

/**
 * The mount's configuration as stored under `config` (seal-wrapped where the seal can). The
 * admin token lives only here; its pachd observation is kept beside it so
 * that reads can describe it without ever returning it.
 */
export const CONFIG_KEY = 'config';
const STORAGE_VERSION = 1;

export type GenerationSetting = 'auto' | '1' | '2';

/**
 * The automated rotation settings (`rotation_period`, `rotation_schedule`, `rotation_window`,
 * `disable_automated_rotation`) are stored as `RotationSettings` names them; all are absent in
 * configurations written before they existed.
 */
export interface EngineConfig extends RotationSettings {
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
  /** The pachd observation of a verified configuration (the field keeps its stored name). */
  observed?: PachdObservation;
  /**
   * Present when the engine minted the admin token (rotate-root), absent when an operator wrote
   * it. The engine revokes a token it minted once the configuration lets go of it, and leaves an
   * operator's alone: the operator may use it elsewhere.
   */
  admin_token_minted?: MintedAdminToken;
  /** What the engine remembers of its rotations of the admin token (absent: none yet). */
  rotation?: RotationState;
}

/** The automated rotation schedule an operator set on `config` (absent: none set; mount/rotation-schedule.ts). */
export interface RotationSettings {
  rotation_period_seconds?: number;
  rotation_schedule?: string;
  rotation_window_seconds?: number;
  disable_automated_rotation?: boolean;
}

/** What the engine remembers of its rotations, stored with the configuration. */
export interface RotationState {
  last_rotation?: string;
  /** The next scheduled rotation (schedule or period). */
  next_rotation?: string;
  /** A failed rotation is tried again at this time. */
  retry_at?: string;
  last_error?: string;
  last_error_at?: string;
  /** Failed attempts since the last success or scheduled attempt. */
  failures?: number;
  /** No more attempts until this time (ISO), or, when null, until an operator's rotate-root. */
  given_up_until?: string | null;
}

export interface MintedAdminToken {
  subject: string;
  generation: PachdGeneration;
  minted_at: string;
}

/** What pachd said about this configuration when it was verified (pachd-observation.ts). */
export interface PachdObservation {
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
 * Longer, and a deadline past ~24.8 days is past what a Node timer holds: the client would leave it
 * to pachd alone, and a hung pachd would then hold a request forever.
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
 *
 * The cache is versioned: a read that began before a write or an invalidation finished stores
 * nothing, so an older configuration (a revoked admin token, a former address) never replaces a
 * newer one in it.
 */
export class ConfigStore {
  private cached: EngineConfig | null | undefined;
  /** Bumped by every change of what the cache should hold. */
  private version = 0;
  /** Keeps the cached configuration's admin token secret while the cache holds it. */
  private releaseCached: Release | undefined;
  private readonly writers = new SerialRunner();

  constructor(private readonly redactor: Redactor) {}

  async load(storage: Storage): Promise<EngineConfig | undefined> {
    if (this.cached !== undefined) return this.cached ?? undefined;
    const versionAtStart = this.version;
    const stored = (await getJson<EngineConfig>(storage, CONFIG_KEY)) ?? null;
    if (this.version === versionAtStart) this.remember(stored);
    // Something newer arrived meanwhile: prefer it to what this read found.
    return (this.cached === undefined ? stored : this.cached) ?? undefined;
  }

  /** The configuration, or a 400 telling the operator to write it. */
  async require(storage: Storage): Promise<EngineConfig> {
    const config = await this.load(storage);
    if (config === undefined) throw notConfigured();
    return config;
  }

  /**
   * Runs `change` alone among the configuration's writers, with the configuration read afresh
   * from storage (a cached copy could predate the last writer on another node). What the writer
   * protects stays secret until `change` has finished; what it saves, for as long as it is stored.
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
      const releases: Release[] = [];
      try {
        const stored = (await getJson<EngineConfig>(storage, CONFIG_KEY)) ?? null;
        this.version += 1;
        this.remember(stored);
        return await change(stored ?? undefined, {
          save: (config) => this.save(storage, config),
          delete: () => this.delete(storage),
          protect: (value) => void releases.push(this.redactor.hold(value)),
        });
      } finally {
        for (const release of releases) release();
      }
    });
  }

  /** Another node changed the configuration. */
  invalidate(): void {
    this.version += 1;
    this.remember(undefined);
  }

  private async save(storage: Storage, config: EngineConfig): Promise<void> {
    const release = this.redactor.hold(config.admin_token);
    try {
      await putJson(storage, CONFIG_KEY, { ...config, version: STORAGE_VERSION }, { sealWrap: true });
    } finally {
      release();
    }
    this.version += 1;
    this.remember(config);
  }

  private async delete(storage: Storage): Promise<void> {
    await storage.delete(CONFIG_KEY);
    this.version += 1;
    this.remember(null);
  }

  private remember(config: EngineConfig | null | undefined): void {
    // Whatever else goes wrong, the admin token the cache holds never reaches an answer or a log
    // line; a replaced one is let go, so the set of secrets stays as small as the mount's.
    const release = config === null || config === undefined ? undefined : this.redactor.hold(config.admin_token);
    this.releaseCached?.();
    this.releaseCached = release;
    this.cached = config;
  }
}

/** What a writer holding the configuration may do with it. */
export interface ConfigWriter {
  save(config: EngineConfig): Promise<void>;
  delete(): Promise<void>;
  /** Keeps a value that may become the admin token out of answers and logs while the change runs. */
  protect(value: string): void;
}

export function notConfigured(): Error {
  return badRequest(
    'the pachyderm secrets engine is not configured yet: write pachd_address and admin_token to <mount>/config',
  );
}
