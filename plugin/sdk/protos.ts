/**
 * @file
 * Vault's plugin messages as they look decoded (field names as in the .proto, int64 as decimal
 * strings, unset messages null or absent). Only the fields this SDK reads or writes are typed.
 */

import backendProto from '../../proto/vault/backend.proto';
import logicalProto from '../../proto/vault/logical.proto';
import multiplexingProto from '../../proto/vault/multiplexing.proto';
import { loadProtoFiles, type WireInt64 } from '../grpc/proto-loading';
import type { WireTimestamp } from '../grpc/timestamp';

export const vaultDefinitions = loadProtoFiles([logicalProto, backendProto, multiplexingProto]);

export interface WireHeader {
  header: string[];
}

export interface WireLeaseOptions {
  TTL: WireInt64;
  renewable: boolean;
  increment: WireInt64;
  issue_time?: WireTimestamp | null;
  MaxTTL: WireInt64;
}

export interface WireSecret {
  lease_options?: WireLeaseOptions | null;
  internal_data: string;
  lease_id: string;
}

export interface WireRequestWrapInfo {
  TTL: WireInt64;
  format: string;
  seal_wrap: boolean;
}

export interface WireConnection {
  remote_addr: string;
  remote_port: number;
}

export interface WireRequest {
  id: string;
  operation: string;
  path: string;
  data: string;
  secret?: WireSecret | null;
  headers?: Record<string, WireHeader>;
  client_token: string;
  client_token_accessor: string;
  display_name: string;
  mount_point: string;
  mount_type: string;
  mount_accessor: string;
  wrap_info?: WireRequestWrapInfo | null;
  entity_id: string;
  policy_override: boolean;
  unauthenticated: boolean;
  connection?: WireConnection | null;
}

export interface WireResponse {
  secret?: WireSecret | null;
  data: string;
  redirect?: string;
  warnings?: string[];
  headers?: Record<string, WireHeader>;
}

export interface WireProtoError {
  err_type: number;
  err_msg: string;
  err_code: WireInt64 | number;
}

export interface WireWalIndex {
  local_index: WireInt64;
  replicated_index: WireInt64;
}

export interface WireHandleRequestArgs {
  request?: WireRequest | null;
}

export interface WireHandleRequestReply {
  response?: WireResponse | null;
  err?: WireProtoError | null;
  walIndex?: WireWalIndex | null;
}

export interface WireHandleExistenceCheckReply {
  check_found: boolean;
  exists: boolean;
  err?: WireProtoError | null;
}

export interface WireSetupArgs {
  broker_id: number;
  Config: Record<string, string>;
  backendUUID: string;
}

export interface WirePaths {
  root: string[];
  unauthenticated: string[];
  local_storage: string[];
  seal_wrap_storage: string[];
  write_forwarded_storage: string[];
  binary: string[];
  limited: string[];
  allow_snapshot_read: string[];
}

export interface WireStorageEntry {
  key: string;
  value: Buffer;
  seal_wrap: boolean;
}

export interface WireEntity {
  ID: string;
  name: string;
  aliases: WireAlias[];
  metadata: Record<string, string>;
  disabled: boolean;
  namespace_id: string;
}

export interface WireAlias {
  mount_type: string;
  mount_accessor: string;
  name: string;
  metadata: Record<string, string>;
  ID: string;
  namespace_id: string;
  custom_metadata: Record<string, string>;
  local: boolean;
}

export interface WireGroup {
  ID: string;
  name: string;
  metadata: Record<string, string>;
  namespace_id: string;
}
