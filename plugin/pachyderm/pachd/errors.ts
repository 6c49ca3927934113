import * as grpc from '@grpc/grpc-js';
import { isServiceError } from '../../goplugin/grpc-call';
import { Redactor } from '../../goplugin/redactor';

/**
 * pachd's failures sorted by what a Vault operator or caller can do about them, with messages
 * that name the pachd address and the cause. Codes and texts per pachd-auth-api.md §1.6, §4.2.
 */
export type PachdFailure =
  /** Could not reach pachd, or it did not answer in time: retry later, check the address. */
  | 'unreachable'
  /** Auth is off (or half on) in this cluster. */
  | 'not-activated'
  /** The token used for the call is unknown, revoked or expired. */
  | 'unauthenticated'
  /** The caller lacks a permission (not an admin). */
  | 'permission-denied'
  /** pachd refused the request's content (subject, TTL). */
  | 'invalid-input'
  /** The token acted on is unknown or already gone. */
  | 'token-not-found'
  /** The service does not exist on this pachd: the other generation. */
  | 'unimplemented'
  | 'other';

export class PachdError extends Error {
  constructor(
    readonly failure: PachdFailure,
    message: string,
    readonly address: string,
    readonly method: string,
    readonly code: grpc.status | undefined,
    /** pachd's own words, without our framing. */
    readonly detail: string,
  ) {
    super(message);
    this.name = 'PachdError';
  }
}

const INVALID_INPUT = [
  'unrecognized prefix',
  'has no prefix',
  'Subject is invalid',
  'must be >= 0',
  'must be > 0',
  'cannot contain colons',
  'can only extend tokens by at most',
  'validate request',
];

/**
 * `callToken` is the token the call carried: scrubbed from pachd's and grpc-js's words whether
 * or not anything registered it, since some failures (metadata grpc-js refuses) quote it whole.
 */
export function classifyPachdError(
  error: unknown,
  address: string,
  method: string,
  timeoutMs: number,
  callToken?: string,
): PachdError {
  const scrubber = new Redactor();
  if (callToken !== undefined) scrubber.add(callToken);
  if (!isServiceError(error)) {
    const detail = scrubber.scrub(error instanceof Error ? error.message : String(error));
    return new PachdError('other', `pachd at ${address} (${method}): ${detail}`, address, method, undefined, detail);
  }
  // grpc-js appends an empty "Resolution note:" to connection failures.
  const detail = scrubber.scrub((error.details || error.message).replace(/\s*Resolution note:\s*$/, ''));
  const make = (failure: PachdFailure, message: string) =>
    new PachdError(failure, message, address, method, error.code, detail);

  switch (error.code) {
    case grpc.status.UNAVAILABLE:
      if (detail.includes('partially activated')) {
        return make('not-activated', `Pachyderm auth is only partially activated on pachd at ${address}: ${detail}`);
      }
      return make('unreachable', `pachd at ${address} is unreachable: ${detail}`);
    case grpc.status.DEADLINE_EXCEEDED:
      return make('unreachable', `pachd at ${address} did not answer ${method} within ${timeoutMs / 1000}s`);
    case grpc.status.CANCELLED:
      return make('unreachable', `call to pachd at ${address} (${method}) was cancelled: ${detail}`);
    case grpc.status.UNIMPLEMENTED:
      if (detail.includes('not activated')) {
        return make('not-activated', `Pachyderm auth is not activated on pachd at ${address} (${detail})`);
      }
      return make('unimplemented', `pachd at ${address} does not serve ${method}: ${detail}`);
    case grpc.status.UNAUTHENTICATED:
      return make('unauthenticated', `pachd at ${address} rejected the token: ${detail}`);
    case grpc.status.PERMISSION_DENIED:
      return make('permission-denied', `pachd at ${address} refused ${method}: ${detail}`);
    case grpc.status.INTERNAL:
      if (detail.includes('already revoked') || detail.includes('expiration is in the past')) {
        return make('token-not-found', `pachd at ${address}: ${detail}`);
      }
      break;
    case grpc.status.INVALID_ARGUMENT:
      return make('invalid-input', `pachd at ${address} refused ${method}: ${detail}`);
    default:
      break;
  }
  // Before 2.7 permission failures, and all plain server errors, arrive as Unknown.
  // pachd 1.11.8 to 1.13.2 report revoking an unknown token as a missing etcd key.
  if (/tokens\/[0-9a-f]{64} not found/.test(detail)) {
    return make('token-not-found', `pachd at ${address}: the token is already gone (${detail.trim()})`);
  }
  if (detail.includes('not authorized to perform this operation')) {
    return make('permission-denied', `pachd at ${address} refused ${method}: ${detail}`);
  }
  if (INVALID_INPUT.some((marker) => detail.includes(marker))) {
    return make('invalid-input', `pachd at ${address} refused ${method}: ${detail}`);
  }
  return make('other', `pachd at ${address} failed ${method}: ${detail}`);
}
