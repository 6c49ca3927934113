import { statusName } from './grpc-status';

/** Trailing metadata of a failed call: header names (lowercase) to their values. */
export type TrailerMetadata = Readonly<Record<string, string | readonly string[]>>;

/**
 * A call that ended with a non-OK status, shaped like grpc-js's ServiceError (`code`, `details`,
 * `metadata`) so code that classifies failures reads both alike.
 */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    /**
     * True only when the request certainly never reached the server's application: no connection
     * was made, or the server refused the stream (REFUSED_STREAM, or a GOAWAY whose last stream id
     * is below this one). Such a call may be sent again without risk of doing it twice.
     */
    readonly neverSent: boolean = false,
    readonly metadata: TrailerMetadata = {},
  ) {
    // grpc-js's message format, which logs and tests already know.
    super(`${code} ${statusName(code)}: ${details}`);
    this.name = 'GrpcStatusError';
  }
}
