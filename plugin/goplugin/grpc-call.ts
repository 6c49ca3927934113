import * as grpc from '@grpc/grpc-js';

/**
 * A typed handle on one unary method of a service loaded at run time, so callers name request
 * and response types once instead of reaching into an untyped generic client.
 */
export class UnaryMethod<Request, Response> {
  constructor(private readonly definition: grpc.MethodDefinition<Request, Response>) {}

  get path(): string {
    return this.definition.path;
  }

  call(
    client: grpc.Client,
    request: Request,
    options: { metadata?: grpc.Metadata; deadline?: grpc.Deadline } = {},
  ): Promise<Response> {
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        this.definition.path,
        this.definition.requestSerialize,
        this.definition.responseDeserialize,
        request,
        options.metadata ?? new grpc.Metadata(),
        options.deadline === undefined ? {} : { deadline: options.deadline },
        (error: grpc.ServiceError | null, response?: Response) => {
          if (error !== null) reject(error);
          else if (response === undefined) reject(new Error(`${this.definition.path} returned no message`));
          else resolve(response);
        },
      );
    });
  }
}

export function unaryMethod<Request, Response>(
  service: grpc.ServiceDefinition,
  name: string,
): UnaryMethod<Request, Response> {
  const definition = service[name];
  if (definition === undefined) throw new Error(`service has no method ${name}`);
  if (definition.requestStream || definition.responseStream) throw new Error(`${name} is not unary`);
  return new UnaryMethod(definition as grpc.MethodDefinition<Request, Response>);
}

/** Whether an error is a gRPC status error (as opposed to a local failure). */
export function isServiceError(error: unknown): error is grpc.ServiceError {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'number' &&
    'details' in error
  );
}
