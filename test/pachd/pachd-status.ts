import * as grpc from '@grpc/grpc-js';

/** An error that leaves the stand-in with exactly this gRPC code and message. */
export class PachdStatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
    this.name = 'PachdStatusError';
  }
}

/**
 * pachd's plain Go errors (errors.New / Errorf, no status attached) reach the client as
 * Unknown with the error text as the message.
 */
export function plainGoError(message: string): PachdStatusError {
  return new PachdStatusError(grpc.status.UNKNOWN, message);
}

/** Splits "/auth.API/WhoAmI" into its service and method parts. */
export function splitMethodPath(path: string): { service: string; method: string } {
  const slash = path.lastIndexOf('/');
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

/**
 * grpc-go's answer for a service the server never registered. pachd is a Go program, so a client
 * probing the other generation sees this wording, not grpc-js's.
 */
export function unknownServiceError(service: string): PachdStatusError {
  return new PachdStatusError(grpc.status.UNIMPLEMENTED, `unknown service ${service}`);
}

/**
 * grpc-go's answer for an unregistered method of a registered service. The wording depends on the
 * grpc-go that pachd vendored: up to pachd 1.8.0 it named only the method, 1.8.1 to 1.9.0 said
 * "unknown service" even here, and 1.9.1 onward (all 2.x) names both.
 */
export type UnknownMethodWording = 'method-only' | 'service-only' | 'method-and-service';

export function unknownMethodError(service: string, method: string, wording: UnknownMethodWording): PachdStatusError {
  switch (wording) {
    case 'method-only':
      return new PachdStatusError(grpc.status.UNIMPLEMENTED, `unknown method ${method}`);
    case 'service-only':
      return unknownServiceError(service);
    case 'method-and-service':
      return new PachdStatusError(grpc.status.UNIMPLEMENTED, `unknown method ${method} for service ${service}`);
  }
}
