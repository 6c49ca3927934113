import * as grpc from '@grpc/grpc-js';

import { PachdStatusError, plainGoError } from './pachd-status';
import type { PachdGeneration, PachdVersion } from './pachd-version';

/**
 * The auth errors both generations share (src/client/auth/auth.go in 1.x, src/auth/auth.go in
 * 2.x), with the codes and texts of the emulated release. Before 1.7.2 they were plain Go errors
 * (code Unknown) and two of them read differently.
 */
export class PachdAuthErrors {
  private readonly statusCoded: boolean;

  constructor(
    private readonly generation: PachdGeneration,
    private readonly version: PachdVersion,
  ) {
    this.statusCoded = generation === 2 || version.isAtLeast(1, 7, 2);
  }

  notActivated(): PachdStatusError {
    return this.coded(grpc.status.UNIMPLEMENTED, 'the auth service is not activated');
  }

  partiallyActivated(): PachdStatusError {
    return new PachdStatusError(grpc.status.UNAVAILABLE, 'the auth service is only partially activated');
  }

  notSignedIn(): PachdStatusError {
    return this.statusCoded
      ? new PachdStatusError(grpc.status.UNAUTHENTICATED, 'no authentication token (try logging in)')
      : plainGoError('auth token not found in context (user may not be signed in)');
  }

  badToken(): PachdStatusError {
    return this.coded(
      grpc.status.UNAUTHENTICATED,
      'provided auth token is corrupted or has expired (try logging in again)',
    );
  }

  severalTokens(): PachdStatusError {
    return plainGoError('multiple authentication token keys found in context');
  }

  /** RestoreAuthToken with a past expiry, and (2.x) a token whose row outlived its expiry. */
  expiredToken(): PachdStatusError {
    return new PachdStatusError(grpc.status.INTERNAL, 'token expiration is in the past');
  }

  /** 1.13.3+ RevokeAuthToken of a token pachd does not hold. */
  revokeUnknownToken(): PachdStatusError {
    return new PachdStatusError(grpc.status.INTERNAL, 'token has expired or is already revoked');
  }

  /** 2.x Activate on an active cluster. */
  alreadyActivated(): PachdStatusError {
    return new PachdStatusError(grpc.status.UNIMPLEMENTED, 'the auth service is already activated');
  }

  /**
   * A request without a message field pachd needs: 2.8.0 and later validate requests; before,
   * pachd dereferences the field unchecked (1.x panics).
   */
  unsetField(requestName: string, field: string): PachdStatusError {
    if (this.generation === 2 && this.version.isAtLeast(2, 8, 0)) {
      const goField = field.charAt(0).toUpperCase() + field.slice(1);
      return new PachdStatusError(
        grpc.status.INVALID_ARGUMENT,
        `validate request: invalid ${requestName}.${goField}: value is required`,
      );
    }
    const consequence =
      this.generation === 1
        ? 'pachd 1.x dereferences it unchecked and panics'
        : 'pachd before 2.8.0 dereferences it unchecked';
    return new PachdStatusError(grpc.status.INTERNAL, `${requestName}.${field} is unset (${consequence})`);
  }

  /** RestoreAuthToken of a hash pachd already holds. */
  duplicateTokenHash(): PachdStatusError {
    return plainGoError('error restoring auth token: cannot overwrite existing token with same hash');
  }

  private coded(code: grpc.status, message: string): PachdStatusError {
    return this.statusCoded ? new PachdStatusError(code, message) : plainGoError(message);
  }
}
