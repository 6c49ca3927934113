/**
 * @file
 * Errors a handler throws to give Vault's caller a specific HTTP status and message.
 *
 * Over the wire an error is `ProtoError{err_type, err_msg, err_code}`. For the "sentinel" types
 * (invalid request, permission denied, unsupported path or operation, unrecoverable) the host
 * rebuilds its own sentinel and drops our text, so the text travels as an error response
 * (`{"error": "..."}`) beside the type: Vault shows the response's text with the type's status.
 * A coded error keeps its own text and status only when no response accompanies it.
 */

export enum ErrorType {
  Unknown = 0,
  User = 1,
  Internal = 2,
  Coded = 3,
  StatusBadRequest = 4,
  UnsupportedOperation = 5,
  UnsupportedPath = 6,
  InvalidRequest = 7,
  PermissionDenied = 8,
  MultiAuthzPending = 9,
  Unrecoverable = 10,
}

export class VaultError extends Error {
  constructor(
    message: string,
    readonly type: ErrorType,
    /** HTTP status for coded errors. */
    readonly code: number = 0,
    /** Whether the message travels as an error response (see above). */
    readonly asResponse: boolean = false,
  ) {
    super(message);
    this.name = 'VaultError';
  }
}

/** 400: the caller sent something wrong; the message says what. */
export function badRequest(message: string): VaultError {
  return new VaultError(message, ErrorType.InvalidRequest, 0, true);
}

/** 403 with an explanation. */
export function permissionDenied(message: string): VaultError {
  return new VaultError(message, ErrorType.PermissionDenied, 0, true);
}

/** 404: no such path here. */
export function unsupportedPath(message = 'unsupported path'): VaultError {
  return new VaultError(message, ErrorType.UnsupportedPath, 0, true);
}

/** 405: the path exists but not for this operation. */
export function unsupportedOperation(message = 'unsupported operation'): VaultError {
  return new VaultError(message, ErrorType.UnsupportedOperation, 0, true);
}

/** Any HTTP status with its own message, e.g. 502 when an upstream server fails. */
export function codedError(status: number, message: string): VaultError {
  return new VaultError(message, ErrorType.Coded, status);
}

/** logical.ErrReadOnly's text: Vault recognises a plugin's read-only refusal by it. */
export const READ_ONLY_STORAGE_MESSAGE = 'cannot write to readonly storage';

/**
 * logical.ErrReadOnly, as a Go plugin's storage would return it: untyped, so the host rebuilds a
 * plain error with this text, which makes a performance standby forward the request to the active
 * node (and a performance secondary to its primary) and the rollback manager stay quiet. For a
 * change this node could not store, refused before anything outside Vault is touched.
 */
export function readOnlyStorage(): VaultError {
  return new VaultError(READ_ONLY_STORAGE_MESSAGE, ErrorType.Unknown);
}

/** 500: something went wrong on our side. */
export function internalError(message: string): VaultError {
  return new VaultError(message, ErrorType.Internal);
}

/**
 * Tells Vault's lease manager to stop retrying a revocation (the lease becomes irrevocable);
 * for failures that no retry can fix.
 */
export function unrecoverable(message: string): VaultError {
  return new VaultError(message, ErrorType.Unrecoverable, 0, true);
}
