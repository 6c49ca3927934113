import type { Nanoseconds } from './duration';

/**
 * What the host tells a mount about itself and about callers: lease defaults, whether the mount
 * is being removed, replication state, and the identity store.
 */
export interface SystemView {
  defaultLeaseTtl(): Promise<Nanoseconds>;
  maxLeaseTtl(): Promise<Nanoseconds>;
  /** True while the mount is being unmounted. */
  tainted(): Promise<boolean>;
  cachingDisabled(): Promise<boolean>;
  /** Bit flags; see `ReplicationState`. */
  replicationState(): Promise<number>;
  localMount(): Promise<boolean>;
  /** The identity entity, or undefined when the host has none by that id. */
  entityInfo(entityId: string): Promise<Entity | undefined>;
  groupsForEntity(entityId: string): Promise<Group[]>;
  pluginEnvironment(): Promise<PluginEnvironment>;
}

/**
 * Vault's replication state flags (consts.ReplicationState), as far as a plugin cares. The Go
 * constants start at 1 << 5 because an older enumeration occupied the first values.
 */
export const ReplicationState = {
  performancePrimary: 1 << 5,
  performanceSecondary: 1 << 6,
  drPrimary: 1 << 8,
  drSecondary: 1 << 9,
  performanceStandby: 1 << 14,
} as const;

/**
 * Whether this node may write its mount's local (unreplicated) storage, where a WAL lives: any
 * node but a performance standby (which writes nothing) and a DR secondary (which serves nothing).
 */
export function walWritable(state: number): boolean {
  return (state & (ReplicationState.performanceStandby | ReplicationState.drSecondary)) === 0;
}

export interface EntityAlias {
  id: string;
  name: string;
  mountType: string;
  mountAccessor: string;
  metadata: Readonly<Record<string, string>>;
  customMetadata: Readonly<Record<string, string>>;
}

export interface Entity {
  id: string;
  name: string;
  aliases: readonly EntityAlias[];
  metadata: Readonly<Record<string, string>>;
  disabled: boolean;
  namespaceId: string;
}

export interface Group {
  id: string;
  name: string;
  metadata: Readonly<Record<string, string>>;
}

export interface PluginEnvironment {
  vaultVersion: string;
  vaultVersionPrerelease: string;
  vaultVersionMetadata: string;
}

/** Fixed answers, for unit tests and for running without a host. */
export class StaticSystemView implements SystemView {
  defaultLeaseTtlValue: Nanoseconds;
  maxLeaseTtlValue: Nanoseconds;
  taintedValue = false;
  replicationStateValue = 0;
  localMountValue = false;
  readonly entities = new Map<string, Entity>();
  readonly groups = new Map<string, Group[]>();
  environment: PluginEnvironment = {
    vaultVersion: '1.20.0',
    vaultVersionPrerelease: '',
    vaultVersionMetadata: '',
  };

  constructor(options: { defaultLeaseTtl?: Nanoseconds; maxLeaseTtl?: Nanoseconds } = {}) {
    // Vault's own defaults: 768 hours for both.
    this.defaultLeaseTtlValue = options.defaultLeaseTtl ?? 768n * 3600n * 1_000_000_000n;
    this.maxLeaseTtlValue = options.maxLeaseTtl ?? 768n * 3600n * 1_000_000_000n;
  }

  async defaultLeaseTtl(): Promise<Nanoseconds> {
    return this.defaultLeaseTtlValue;
  }

  async maxLeaseTtl(): Promise<Nanoseconds> {
    return this.maxLeaseTtlValue;
  }

  async tainted(): Promise<boolean> {
    return this.taintedValue;
  }

  async cachingDisabled(): Promise<boolean> {
    return false;
  }

  async replicationState(): Promise<number> {
    return this.replicationStateValue;
  }

  async localMount(): Promise<boolean> {
    return this.localMountValue;
  }

  async entityInfo(entityId: string): Promise<Entity | undefined> {
    return this.entities.get(entityId);
  }

  async groupsForEntity(entityId: string): Promise<Group[]> {
    return this.groups.get(entityId) ?? [];
  }

  async pluginEnvironment(): Promise<PluginEnvironment> {
    return this.environment;
  }
}
