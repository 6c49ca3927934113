/**
 * @file
 * `google.protobuf.Timestamp` as decoded, and to and from Date. Vault's lease times and pachd's
 * token expiries travel in this one type, so it lives with the rest of the shared gRPC plumbing.
 */

import type { WireInt64 } from './proto-loading';

export interface WireTimestamp {
  seconds: WireInt64 | number;
  nanos: number;
}

export function dateToWire(date: Date): WireTimestamp {
  const millis = date.getTime();
  const seconds = Math.floor(millis / 1000);
  return { seconds: String(seconds), nanos: (millis - seconds * 1000) * 1_000_000 };
}

export function dateFromWire(timestamp: WireTimestamp): Date {
  return new Date(Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1_000_000));
}
