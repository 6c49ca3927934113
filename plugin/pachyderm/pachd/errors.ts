import { isServiceError } from '../../grpc/grpc-call';
import { GrpcStatus } from '../../grpc/grpc-status';
import { GrpcStatusError } from '../../grpc/grpc-status-error';
import { Redactor } from '../../goplugin/redactor';
import { GateTimeout } from './call-gate';

/**
 * pachd's failures sorted by what a Vault operator or caller can do about them, with messages
 * that name the pachd address and the cause. Codes and texts per docs/pachd-auth-api.md §4
 * and what a real pachd 2.11.6 answered.
 */
export type PachdFailure =
  /** Could not reach pachd, or it did not answer in time: retry later, check the address. */
  | 'unreachable'
  /** Too many token writes already in flight to this pachd; nothing was sent. */
  | 'busy'
  /** Auth is off (or half on) in this cluster. */
  | 'not-activated'
  /** The token used for the call is unknown, revoked or past its expiry. */
  | 'unauthenticated'
  /** The caller lacks a permission (not an admin). */
  | 'permission-denied'
  /** pachd refused the request's content (subject, TTL). */
  | 'invalid-input'
  /** The token acted on is unknown or already gone. */
  | 'token-not-found'
  /** The repo or project a role binding names does not exist. */
  | 'resource-not-found'
  /** The service does not exist on this pachd: the other generation. */
  | 'unimplemented'
  | 'other';

export class PachdError extends Error {
  constructor(
    readonly failure: PachdFailure,
    message: string,
    readonly address: string,
    readonly method: string,
    readonly code: number | undefined,
    /** pachd's own words, without our framing. */
    readonly detail: string,
    /**
     * False only when pachd certainly did not carry the call out: it refused it, or it never left
     * this process. A write that failed any other way (deadline, dropped stream, an internal
     * error) may have been applied, and whatever it created must stay journaled.
     */
    readonly mayHaveApplied: boolean,
  ) {
    super(message);
    this.name = 'PachdError';
  }
}

/**
 * A request this client refuses before sending anything (a value pachd would refuse, or one the
 * transport cannot carry): pachd never saw it, so nothing can have been applied.
 */
export function refusedBeforeSending(address: string, method: string, message: string, detail: string): PachdError {
  return new PachdError('invalid-input', message, address, method, undefined, detail, false);
}

const INVALID_INPUT = [
  // PostgreSQL's words for a subject past its column (2.x); the transaction rolled back.
  'value too long for type character varying',
  'unrecognized prefix',
  'has no prefix',
  'Subject is invalid',
  'must be >= 0',
  'must be > 0',
  'cannot contain colons',
  'can only extend tokens by at most',
  'validate request',
  // Role bindings (2.x ModifyRoleBinding, RevokeAuthTokensForUser; 1.x SetScope).
  'unknown role "',
  'unknown resource type',
  'invalid resource name',
  'cannot modify cluster role bindings for pach: users',
  'cannot revoke tokens for pach: users',
  'invalid request: must',
];

/**
 * Whether a failure says the token a call was made with, or acted on, is gone at pachd: unknown,
 * revoked, past its expiry, or already revoked.
 */
export function tokenIsGone(error: unknown): boolean {
  return error instanceof PachdError && (error.failure === 'unauthenticated' || error.failure === 'token-not-found');
}

/**
 * Whether a call certainly never reached pachd: no connection to send it on, or pachd refused the
 * stream before reading it (the client tells; see GrpcStatusError.neverSent).
 */
export function neverSent(error: unknown): boolean {
  return error instanceof GrpcStatusError && error.code === GrpcStatus.UNAVAILABLE && error.neverSent;
}

/**
 * `callToken` is the token the call carried: scrubbed from pachd's and the transport's words whether
 * or not anything registered it, since some failures quote it whole.
 */
export function classifyPachdError(
  error: unknown,
  address: string,
  method: string,
  timeoutMs: number,
  callToken?: string,
): PachdError {
  const scrubber = new Redactor();
  if (callToken !== undefined) scrubber.hold(callToken);
  if (error instanceof PachdError) return error;
  if (error instanceof GateTimeout) {
    return new PachdError('busy', error.message, address, method, undefined, error.message, false);
  }
  if (!isServiceError(error)) {
    const detail = scrubber.scrub(error instanceof Error ? error.message : String(error));
    return new PachdError(
      'other',
      `pachd at ${address} (${method}): ${detail}`,
      address,
      method,
      undefined,
      detail,
      true,
    );
  }
  const detail = scrubber.scrub(error.details || error.message);
  const make = (failure: PachdFailure, message: string, mayHaveApplied = false) =>
    new PachdError(failure, message, address, method, error.code, detail, mayHaveApplied);

  switch (error.code) {
    case GrpcStatus.UNAVAILABLE:
      if (detail.includes('partially activated')) {
        return make('not-activated', `Pachyderm auth is only partially activated on pachd at ${address}: ${detail}`);
      }
      return make('unreachable', `pachd at ${address} is unreachable: ${detail}`, !neverSent(error));
    case GrpcStatus.DEADLINE_EXCEEDED:
      return make(
        'unreachable',
        `pachd at ${address} did not answer ${method} in time (${timeoutMs / 1000}s at most)`,
        true,
      );
    case GrpcStatus.CANCELLED:
      return make('unreachable', `call to pachd at ${address} (${method}) was cancelled: ${detail}`, true);
    case GrpcStatus.UNIMPLEMENTED:
      if (detail.includes('not activated')) {
        return make('not-activated', `Pachyderm auth is not activated on pachd at ${address} (${detail})`);
      }
      return make('unimplemented', `pachd at ${address} does not serve ${method}: ${detail}`);
    case GrpcStatus.UNAUTHENTICATED:
      return make('unauthenticated', `pachd at ${address} rejected the token: ${detail}`);
    case GrpcStatus.PERMISSION_DENIED:
      return make('permission-denied', `pachd at ${address} refused ${method}: ${detail}`);
    case GrpcStatus.INTERNAL:
      if (detail.includes('already revoked')) return make('token-not-found', `pachd at ${address}: ${detail}`);
      if (detail.includes('expiration is in the past')) return pastExpiry(make, address, method);
      break;
    case GrpcStatus.INVALID_ARGUMENT:
      return make('invalid-input', `pachd at ${address} refused ${method}: ${detail}`);
    default:
      break;
  }
  // Before 2.7 permission failures, and all plain server errors, arrive as Unknown.
  // pachd 1.11.8 to 1.13.2 report revoking an unknown token as a missing etcd key.
  if (/tokens\/[0-9a-f]{64} not found/.test(detail)) {
    return make('token-not-found', `pachd at ${address}: the token is already gone (${detail.trim()})`);
  }
  // 2.x: a project or repo without a role binding, i.e. one that does not exist ("no role binding
  // exists for REPO default/nosuchrepo", observed on 2.11.6). 1.x SetScope: pfs's etcd collection
  // reporting the repo missing ("/pachyderm_pfs/repos/ nosuchrepo not found", 1.13.4 source).
  if (detail.includes('no role binding exists for') || /pachyderm_pfs\/repos\/ \S+ not found/.test(detail)) {
    return make('resource-not-found', `pachd at ${address} (${method}): no such repo or project: ${detail.trim()}`);
  }
  if (detail.includes('not authorized to perform this operation')) {
    return make('permission-denied', `pachd at ${address} refused ${method}: ${detail}`);
  }
  if (INVALID_INPUT.some((marker) => detail.includes(marker))) {
    return make('invalid-input', `pachd at ${address} refused ${method}: ${detail}`);
  }
  return make('other', `pachd at ${address} failed ${method}: ${detail}`, true);
}

/**
 * "token expiration is in the past". 2.x says it for every call made with a token whose expiry
 * passed but whose row its cleanup has not removed yet (checked on a real pachd 2.11.6): the
 * caller's credential is dead, as with Unauthenticated. RestoreAuthToken also says it for an
 * expiry already past, which the engine never sends unless pachd's clock runs ahead of ours;
 * on 1.x only restore can say it.
 */
function pastExpiry(
  make: (failure: PachdFailure, message: string) => PachdError,
  address: string,
  method: string,
): PachdError {
  if (method === 'auth.API/RestoreAuthToken') {
    // Not the caller's doing: the two clocks disagree by more than the token's lifetime.
    return make(
      'other',
      `pachd at ${address} refused ${method}: the expiry is in the past by pachd's clock, which runs ahead of this ` +
        `host's`,
    );
  }
  return make(
    'unauthenticated',
    `pachd at ${address} rejected the token: it is past its expiry (or, for ${method}, pachd's clock runs ahead of ` +
      `this host's)`,
  );
}
