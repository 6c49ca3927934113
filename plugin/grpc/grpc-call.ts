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

  /**
   * Calls straight on a channel, below grpc-js's Client: no interceptor chain, no event
   * emitter, no Error captured per call for a stack trace. For hot paths (a plugin's storage
   * calls) where those cost more than the call itself.
   */
  callOnChannel(
    channel: grpc.Channel,
    request: Request,
    options: { metadata?: grpc.Metadata; deadline?: grpc.Deadline } = {},
  ): Promise<Response> {
    const definition = this.definition;
    return new Promise((resolve, reject) => {
      const call = channel.createCall(definition.path, options.deadline ?? Infinity, undefined, null, undefined);
      let response: Response | undefined;
      let failure: Error | undefined;
      call.start(options.metadata ?? new grpc.Metadata(), {
        onReceiveMetadata: () => undefined,
        onReceiveMessage: (message: Buffer) => {
          try {
            response = definition.responseDeserialize(message);
          } catch (error) {
            failure = error as Error;
            call.cancelWithStatus(grpc.status.INTERNAL, `cannot decode ${definition.path} reply`);
          }
        },
        onReceiveStatus: (status) => {
          if (status.code === grpc.status.OK && response !== undefined) resolve(response);
          else if (failure !== undefined) reject(failure);
          else if (status.code === grpc.status.OK) reject(new Error(`${definition.path} returned no message`));
          else
            reject(Object.assign(new Error(`${status.code} ${grpc.status[status.code]}: ${status.details}`), status));
        },
      });
      call.startRead();
      call.sendMessageWithContext({}, definition.requestSerialize(request));
      call.halfClose();
    });
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
