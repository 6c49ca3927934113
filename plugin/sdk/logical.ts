/**
 * @file
 * A request and a response as a backend sees them, decoded from the wire: JSON maps parsed,
 * durations as bigint nanoseconds, times as Dates.
 */

import type { AfterResponseTask } from './after-response';
import type { Nanoseconds } from './duration';
import type { Storage } from './storage';

export type Operation =
  | 'create'
  | 'read'
  | 'update'
  | 'patch'
  | 'delete'
  | 'list'
  | 'help'
  | 'alias-lookahead'
  | 'resolve-role'
  | 'header'
  | 'revoke'
  | 'renew'
  | 'rollback'
  | 'scan';

export const OPERATIONS: readonly Operation[] = [
  'create',
  'read',
  'update',
  'patch',
  'delete',
  'list',
  'help',
  'alias-lookahead',
  'resolve-role',
  'header',
  'revoke',
  'renew',
  'rollback',
  'scan',
];

export interface LeaseOptions {
  ttl: Nanoseconds;
  maxTtl: Nanoseconds;
  renewable: boolean;
  /** The extension the caller asked for on renew (0 when none). */
  increment: Nanoseconds;
  issueTime: Date;
}

/** A lease's secret as Vault stores it and hands it back on renew and revoke. */
export interface Secret {
  leaseOptions: LeaseOptions;
  internalData: Record<string, unknown>;
  leaseId: string;
}

export interface Request {
  id: string;
  operation: Operation;
  /** Relative to the mount; "" is the mount's root. */
  path: string;
  data: Record<string, unknown>;
  /** Set on renew and revoke. */
  secret: Secret | undefined;
  /** Only headers the mount lets through (`passthrough_request_headers`). */
  headers: Readonly<Record<string, readonly string[]>>;
  /** A salted hash of the caller's token, not the token. */
  clientToken: string;
  clientTokenAccessor: string;
  displayName: string;
  mountPoint: string;
  mountType: string;
  mountAccessor: string;
  /** The caller's identity entity, "" when it has none (e.g. the root token). */
  entityId: string;
  unauthenticated: boolean;
  remoteAddress: string | undefined;
  /** Storage for this request; writes made through it count toward its consistency state. */
  storage: Storage;
  /**
   * True once the host has given up on the request (client gone, request timeout): whatever
   * the request creates outside Vault from then on has nobody to receive it.
   */
  cancelled(): boolean;
  /** When the host stops waiting for the answer (ms since the epoch); undefined when it set no deadline. */
  deadline: number | undefined;
  /**
   * Queues work for after the answer has been handed to the host, told whether it was delivered:
   * what must outlive the request only until the host holds the answer (a WAL entry covering a
   * credential in the answer) is released there, not before the answer exists.
   */
  afterResponse(task: AfterResponseTask): void;
}

/** What a backend answers. An absent response means "nothing here" (404 for a read). */
export interface Response {
  data?: Record<string, unknown>;
  /** Set to make Vault create a lease. */
  secret?: ResponseSecret;
  warnings?: string[];
  headers?: Record<string, string[]>;
}

export interface ResponseSecret {
  ttl: Nanoseconds;
  maxTtl: Nanoseconds;
  renewable: boolean;
  internalData: Record<string, unknown>;
  issueTime?: Date;
}
