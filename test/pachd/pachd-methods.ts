import type * as grpc from '@grpc/grpc-js';

/**
 * Every RPC real pachd serves on its auth service (1.13.4 and 2.x, per docs/pachd-auth-api.md §6
 * and §9). The .proto files declare only the subset the stand-in implements; the rest still need a
 * registered name so the stand-in can answer them the way a Go server would.
 */
export const AUTH_V1_RPCS = [
  'Activate',
  'Deactivate',
  'GetConfiguration',
  'SetConfiguration',
  'GetAdmins',
  'ModifyAdmins',
  'GetClusterRoleBindings',
  'ModifyClusterRoleBinding',
  'Authenticate',
  'Authorize',
  'WhoAmI',
  'GetScope',
  'SetScope',
  'GetACL',
  'SetACL',
  'GetOIDCLogin',
  'GetAuthToken',
  'ExtendAuthToken',
  'RevokeAuthToken',
  'SetGroupsForUser',
  'ModifyMembers',
  'GetGroups',
  'GetUsers',
  'GetOneTimePassword',
  'ExtractAuthTokens',
  'RestoreAuthToken',
] as const;

export const AUTH_V2_RPCS = [
  'Activate',
  'Deactivate',
  'GetConfiguration',
  'SetConfiguration',
  'Authenticate',
  'Authorize',
  'GetPermissions',
  'GetPermissionsForPrincipal',
  'WhoAmI',
  'GetRolesForPermission',
  'ModifyRoleBinding',
  'GetRoleBinding',
  'GetOIDCLogin',
  'GetRobotToken',
  'RevokeAuthToken',
  'RevokeAuthTokensForUser',
  'SetGroupsForUser',
  'ModifyMembers',
  'GetGroups',
  'GetGroupsForPrincipal',
  'GetUsers',
  'ExtractAuthTokens',
  'RestoreAuthToken',
  'DeleteExpiredAuthTokens',
  'RotateRootToken',
] as const;

/**
 * The RPCs that write token rows or role bindings: what pachd serializes on its database (2.x)
 * or etcd (1.x), and so what the contention model slows down and the write counters count.
 * Everything else reads. (ModifyRoleBinding runs in a read-write transaction on
 * auth.role_bindings; SetScope puts or deletes the repo's etcd ACL key.)
 */
export const AUTH_V1_TOKEN_WRITES: ReadonlySet<string> = new Set([
  'GetAuthToken',
  'ExtendAuthToken',
  'RevokeAuthToken',
  'RestoreAuthToken',
  'SetScope',
]);

export const AUTH_V2_TOKEN_WRITES: ReadonlySet<string> = new Set([
  'GetRobotToken',
  'RestoreAuthToken',
  'RevokeAuthToken',
  'RevokeAuthTokensForUser',
  'RotateRootToken',
  'ModifyRoleBinding',
]);

/** What a handler learns about its call besides the request message. */
export interface PachdCall {
  readonly path: string;
  readonly metadata: grpc.Metadata;
}

/** A handler over decoded messages; it throws PachdStatusError to fail with a given status. */
export type PachdUnaryHandler = (request: unknown, call: PachdCall) => unknown;

/**
 * Adapts a handler written against its request type. proto-loader hands over plain decoded
 * objects with the shape the .proto declares, so this boundary is the one place that trusts it.
 */
export function typedHandler<Request, Response>(
  handler: (request: Request, call: PachdCall) => Response,
): PachdUnaryHandler {
  return (request, call) => handler(request as Request, call);
}

/** A google.protobuf.Timestamp as proto-loader decodes it (int64 seconds as a decimal string). */
export interface TimestampMessage {
  seconds: string | number;
  nanos: number;
}

export function timestampFromMs(milliseconds: number): TimestampMessage {
  const seconds = Math.floor(milliseconds / 1000);
  return { seconds: String(seconds), nanos: Math.floor((milliseconds - seconds * 1000) * 1e6) };
}

export function msFromTimestamp(timestamp: TimestampMessage): number {
  return Number(timestamp.seconds) * 1000 + timestamp.nanos / 1e6;
}

/** int64 fields arrive as decimal strings; values past 2^53 only ever meet caps, so Number will do. */
export function int64ToNumber(value: string | number): number {
  return typeof value === 'number' ? value : Number(value);
}
