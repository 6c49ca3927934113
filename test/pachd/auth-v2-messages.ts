/**
 * @file
 * The 2.x auth_v2.API messages the stand-in reads and writes, as protobufjs decodes them (int64 as
 * strings, field names in snake_case).
 */

import type { TimestampMessage } from './pachd-methods';
import type { ResourceMessage } from './role-catalogue-v2';

export interface ActivateRequest {
  root_token: string;
}
export interface GetRobotTokenRequest {
  robot: string;
  ttl: string;
}
export interface RevokeAuthTokenRequest {
  token: string;
}
export interface RevokeAuthTokensForUserRequest {
  username: string;
}
export interface ModifyRoleBindingRequest {
  resource: ResourceMessage | null;
  principal: string;
  roles: string[];
}
export interface GetRoleBindingRequest {
  resource: ResourceMessage | null;
}
export interface TokenInfoMessage {
  subject: string;
  expiration: TimestampMessage | null;
  hashed_token: string;
}
export interface RestoreAuthTokenRequest {
  token: TokenInfoMessage | null;
}
export interface RotateRootTokenRequest {
  root_token: string;
}
export interface AuthorizeRequest {
  resource: ResourceMessage | null;
  permissions: number[];
}
export interface GetPermissionsRequest {
  resource: ResourceMessage | null;
}
export interface GetPermissionsForPrincipalRequest {
  resource: ResourceMessage | null;
  principal: string;
}
export interface GetPermissionsResponse {
  permissions: number[];
  roles: string[];
}
