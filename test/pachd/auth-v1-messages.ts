/**
 * @file
 * The 1.x auth.API messages the stand-in reads and writes, as protobufjs decodes them (int64 as
 * strings, field names in snake_case).
 */

import type { TimestampMessage } from './pachd-methods';

export interface ActivateRequest {
  github_token: string;
  subject: string;
  root_token: string;
}
export interface ModifyAdminsRequest {
  add: string[];
  remove: string[];
}
export interface GetAuthTokenRequest {
  subject: string;
  ttl: string;
}
export interface ExtendAuthTokenRequest {
  token: string;
  ttl: string;
}
export interface RevokeAuthTokenRequest {
  token: string;
}
export interface SetScopeRequest {
  username: string;
  repo: string;
  scope: number;
}
export interface GetScopeRequest {
  username: string;
  repos: string[];
}
export interface GetAclRequest {
  repo: string;
}
export interface TokenInfoMessage {
  subject: string;
  source: number;
}
export interface HashedAuthTokenMessage {
  hashed_token: string;
  token_info: TokenInfoMessage | null;
  expiration: TimestampMessage | null;
}
export interface RestoreAuthTokenRequest {
  token: HashedAuthTokenMessage | null;
}
export interface WhoAmIResponse {
  username: string;
  is_admin: boolean;
  ttl?: number;
  cluster_roles?: { roles: number[] };
}
