/**
 * @file
 * Clients for what the host serves over the broker connection: the mount's storage and its
 * system view. One broker connection per mount carries both.
 */

import { unaryMethod, type CallMetadata } from '../grpc/grpc-call';
import type { Http2UnaryClient } from '../grpc/http2-unary-client';
import { serviceDefinition } from '../grpc/proto-loading';
import type { Nanoseconds } from './duration';
import { vaultDefinitions } from './protos';
import type { WireAlias, WireEntity, WireGroup, WireStorageEntry, WireWalIndex } from './protos';
import type { Storage, StorageEntry } from './storage';
import type { Entity, Group, PluginEnvironment, SystemView } from './system-view';

const storageService = serviceDefinition(vaultDefinitions, 'pb.Storage');
const systemViewService = serviceDefinition(vaultDefinitions, 'pb.SystemView');

type Empty = Record<string, never>;

/** The request metadata the host sent with a call (grpc-js's Metadata, as the server reads it). */
export interface IncomingMetadata {
  get(key: string): ReadonlyArray<string | Buffer>;
}

const storageCalls = {
  list: unaryMethod<{ prefix: string }, { keys: string[]; err: string }>(storageService, 'List'),
  get: unaryMethod<{ key: string }, { entry?: WireStorageEntry | null; err: string }>(storageService, 'Get'),
  put: unaryMethod<{ entry: WireStorageEntry }, { err: string; walIndex?: WireWalIndex | null }>(storageService, 'Put'),
  delete: unaryMethod<{ key: string }, { err: string; walIndex?: WireWalIndex | null }>(storageService, 'Delete'),
};

const systemViewCalls = {
  defaultLeaseTtl: unaryMethod<Empty, { TTL: string }>(systemViewService, 'DefaultLeaseTTL'),
  maxLeaseTtl: unaryMethod<Empty, { TTL: string }>(systemViewService, 'MaxLeaseTTL'),
  tainted: unaryMethod<Empty, { tainted: boolean }>(systemViewService, 'Tainted'),
  cachingDisabled: unaryMethod<Empty, { disabled: boolean }>(systemViewService, 'CachingDisabled'),
  replicationState: unaryMethod<Empty, { state: number }>(systemViewService, 'ReplicationState'),
  localMount: unaryMethod<Empty, { local: boolean }>(systemViewService, 'LocalMount'),
  entityInfo: unaryMethod<{ entity_id: string }, { entity?: WireEntity | null; err: string }>(
    systemViewService,
    'EntityInfo',
  ),
  groupsForEntity: unaryMethod<{ entity_id: string }, { groups: WireGroup[]; err: string }>(
    systemViewService,
    'GroupsForEntity',
  ),
  pluginEnv: unaryMethod<
    Empty,
    {
      plugin_environment?: {
        vault_version: string;
        vault_version_prerelease: string;
        vault_version_metadata: string;
      } | null;
      err: string;
    }
  >(systemViewService, 'PluginEnv'),
};

/**
 * Replication index state of one request. Newer Vault hosts send it as request metadata and
 * expect it back on every storage call the request makes; writes answer with a newer index,
 * which goes back to the host in the request's reply (read-after-write consistency).
 */
export class RequestConsistency {
  private local: bigint;
  private replicated: bigint;
  private readonly clusterId: string;
  private readonly snapshotId: string | undefined;
  private metadata: CallMetadata | undefined;

  constructor(incoming?: IncomingMetadata) {
    this.clusterId = first(incoming, 'index_state_cluster_id') ?? '';
    this.local = BigInt(first(incoming, 'index_state_local') ?? '0');
    this.replicated = BigInt(first(incoming, 'index_state_replicated') ?? '0');
    this.snapshotId = first(incoming, 'snapshot_id');
  }

  /** Built once and reused until a write moves the index. */
  outgoingMetadata(): CallMetadata {
    if (this.metadata !== undefined) return this.metadata;
    const metadata: Record<string, string> = {
      index_state_cluster_id: this.clusterId,
      index_state_local: this.local.toString(),
      index_state_replicated: this.replicated.toString(),
    };
    if (this.snapshotId !== undefined) metadata.snapshot_id = this.snapshotId;
    this.metadata = metadata;
    return metadata;
  }

  update(index: WireWalIndex | null | undefined): void {
    if (index === null || index === undefined) return;
    this.local = BigInt(index.local_index);
    this.replicated = BigInt(index.replicated_index);
    this.metadata = undefined;
  }

  walIndex(): WireWalIndex {
    return { local_index: this.local.toString(), replicated_index: this.replicated.toString() };
  }
}

function first(metadata: IncomingMetadata | undefined, key: string): string | undefined {
  const value = metadata?.get(key)[0];
  return value === undefined ? undefined : String(value);
}

/** The host's storage for one mount; each request gets a view bound to its consistency state. */
export class HostStorage implements Storage {
  constructor(
    private readonly client: Http2UnaryClient,
    private readonly consistency: RequestConsistency = new RequestConsistency(),
  ) {}

  /** A view that carries one request's consistency state. */
  forRequest(consistency: RequestConsistency): HostStorage {
    return new HostStorage(this.client, consistency);
  }

  async list(prefix: string): Promise<string[]> {
    const reply = await storageCalls.list.call(this.client, { prefix }, this.options());
    if (reply.err !== '') throw new Error(reply.err);
    return reply.keys;
  }

  async get(key: string): Promise<StorageEntry | undefined> {
    const reply = await storageCalls.get.call(this.client, { key }, this.options());
    // Host errors (read-only storage, sealed) pass through verbatim: Vault acts on their text.
    if (reply.err !== '') throw new Error(reply.err);
    if (reply.entry === null || reply.entry === undefined) return undefined;
    return { key: reply.entry.key, value: reply.entry.value, sealWrap: reply.entry.seal_wrap };
  }

  async put(entry: StorageEntry): Promise<void> {
    const reply = await storageCalls.put.call(
      this.client,
      { entry: { key: entry.key, value: entry.value, seal_wrap: entry.sealWrap ?? false } },
      this.options(),
    );
    if (reply.err !== '') throw new Error(reply.err);
    this.consistency.update(reply.walIndex);
  }

  async delete(key: string): Promise<void> {
    const reply = await storageCalls.delete.call(this.client, { key }, this.options());
    if (reply.err !== '') throw new Error(reply.err);
    this.consistency.update(reply.walIndex);
  }

  private options(): { metadata: CallMetadata } {
    return { metadata: this.consistency.outgoingMetadata() };
  }
}

export class HostSystemView implements SystemView {
  constructor(private readonly client: Http2UnaryClient) {}

  async defaultLeaseTtl(): Promise<Nanoseconds> {
    return BigInt((await systemViewCalls.defaultLeaseTtl.call(this.client, {})).TTL);
  }

  async maxLeaseTtl(): Promise<Nanoseconds> {
    return BigInt((await systemViewCalls.maxLeaseTtl.call(this.client, {})).TTL);
  }

  async tainted(): Promise<boolean> {
    return (await systemViewCalls.tainted.call(this.client, {})).tainted;
  }

  async cachingDisabled(): Promise<boolean> {
    return (await systemViewCalls.cachingDisabled.call(this.client, {})).disabled;
  }

  async replicationState(): Promise<number> {
    return (await systemViewCalls.replicationState.call(this.client, {})).state;
  }

  async localMount(): Promise<boolean> {
    return (await systemViewCalls.localMount.call(this.client, {})).local;
  }

  async entityInfo(entityId: string): Promise<Entity | undefined> {
    const reply = await systemViewCalls.entityInfo.call(this.client, { entity_id: entityId });
    if (reply.err !== '') throw new Error(reply.err);
    return reply.entity ? entityFromWire(reply.entity) : undefined;
  }

  async groupsForEntity(entityId: string): Promise<Group[]> {
    const reply = await systemViewCalls.groupsForEntity.call(this.client, { entity_id: entityId });
    if (reply.err !== '') throw new Error(reply.err);
    return reply.groups.map((group) => ({ id: group.ID, name: group.name, metadata: group.metadata }));
  }

  async pluginEnvironment(): Promise<PluginEnvironment> {
    const reply = await systemViewCalls.pluginEnv.call(this.client, {});
    if (reply.err !== '') throw new Error(reply.err);
    const environment = reply.plugin_environment;
    return {
      vaultVersion: environment?.vault_version ?? '',
      vaultVersionPrerelease: environment?.vault_version_prerelease ?? '',
      vaultVersionMetadata: environment?.vault_version_metadata ?? '',
    };
  }
}

function entityFromWire(wire: WireEntity): Entity {
  return {
    id: wire.ID,
    name: wire.name,
    aliases: wire.aliases.map((alias: WireAlias) => ({
      id: alias.ID,
      name: alias.name,
      mountType: alias.mount_type,
      mountAccessor: alias.mount_accessor,
      metadata: alias.metadata,
      customMetadata: alias.custom_metadata,
    })),
    metadata: wire.metadata,
    disabled: wire.disabled,
    namespaceId: wire.namespace_id,
  };
}
