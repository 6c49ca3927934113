import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { GrpcStatus } from './grpc-status';
import { GrpcStatusError } from './grpc-status-error';
import type { Http2UnaryClient } from './http2-unary-client';

/** Request metadata: lowercase names to ASCII values. */
export type CallMetadata = Readonly<Record<string, string>>;

export interface CallOptions {
  metadata?: CallMetadata;
  /** ms since the epoch. */
  deadline?: number;
}

/**
 * A typed handle on one unary method of a service loaded at run time, so callers name request
 * and response types once instead of reaching into an untyped generic client.
 */
export class UnaryMethod<Request, Response> {
  /** The method as errors and logs name it: its path without the slashes around it (`auth_v2.API/WhoAmI`). */
  readonly name: string;

  constructor(private readonly definition: MethodDefinition<Request, Response>) {
    this.name = definition.path
      .split('/')
      .filter((part) => part !== '')
      .join('/');
  }

  get path(): string {
    return this.definition.path;
  }

  async call(client: Http2UnaryClient, request: Request, options: CallOptions = {}): Promise<Response> {
    const definition = this.definition;
    const reply = await client.unary(
      definition.path,
      definition.requestSerialize(request),
      options.metadata,
      options.deadline,
    );
    try {
      return definition.responseDeserialize(reply);
    } catch {
      throw new GrpcStatusError(GrpcStatus.INTERNAL, `cannot decode the ${definition.path} reply`);
    }
  }
}

export function unaryMethod<Request, Response>(
  service: ServiceDefinition,
  name: string,
): UnaryMethod<Request, Response> {
  const definition = service[name];
  if (definition === undefined) throw new Error(`service has no method ${name}`);
  if (definition.requestStream || definition.responseStream) throw new Error(`${name} is not unary`);
  return new UnaryMethod(definition as MethodDefinition<Request, Response>);
}

/** Whether an error is a gRPC status error (as opposed to a local failure). */
export function isServiceError(error: unknown): error is { code: number; details: string; message: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'number' &&
    'details' in error &&
    typeof error.details === 'string'
  );
}
