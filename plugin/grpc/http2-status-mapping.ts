/**
 * How HTTP/2 outcomes read as gRPC statuses, per grpc/doc/PROTOCOL-HTTP2.md and
 * grpc/doc/http-grpc-status-mapping.md.
 */

import { constants } from 'node:http2';
import { GrpcStatus, type GrpcStatusCode } from './grpc-status';

/** The status of a reply whose HTTP status is not 200 (a proxy's answer, most likely). */
export function statusFromHttp(httpStatus: number): GrpcStatusCode {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** The status of a stream the server reset before sending one. */
export function statusFromResetCode(rstCode: number): GrpcStatusCode {
  switch (rstCode) {
    case constants.NGHTTP2_REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case constants.NGHTTP2_CANCEL:
      return GrpcStatus.CANCELLED;
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

/**
 * grpc-message is percent-encoded UTF-8. Decoded leniently, as the spec asks: a `%` not followed
 * by two hex digits stays as it is, and bytes that are not UTF-8 become U+FFFD.
 */
export function decodeGrpcMessage(encoded: string): string {
  if (!encoded.includes('%')) return encoded;
  const bytes: number[] = [];
  for (let index = 0; index < encoded.length; index++) {
    const char = encoded.charCodeAt(index);
    if (char === 0x25 && /^[0-9a-fA-F]{2}$/.test(encoded.slice(index + 1, index + 3))) {
      bytes.push(parseInt(encoded.slice(index + 1, index + 3), 16));
      index += 2;
    } else {
      // Header values are ASCII (HTTP/2 field values); anything else is passed on as UTF-8.
      for (const byte of Buffer.from(encoded[index] ?? '', 'utf8')) bytes.push(byte);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * grpc-timeout: at most 8 digits and a unit. Milliseconds while they fit (27 hours), then
 * seconds, then hours.
 */
export function grpcTimeout(milliseconds: number): string {
  const ms = Math.max(0, Math.ceil(milliseconds));
  if (ms < 1e8) return `${ms}m`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 1e8) return `${seconds}S`;
  return `${Math.min(99_999_999, Math.ceil(seconds / 3600))}H`;
}
