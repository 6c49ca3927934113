// A gRPC client for the stand-in's tests: real grpc-js clients built from the project's own
// proto definitions, with `authn-token` metadata attached the way pachctl attaches it.
import { createHash } from 'node:crypto';

import * as grpc from '@grpc/grpc-js';

import { clientConstructor } from '../../plugin/grpc/proto-loading';
import { AUTH_TOKEN_METADATA_KEY } from './caller-token';
import { pachdProtoDefinitions } from './pachd-protos';

export interface CallOptions {
  /** Sent as one `authn-token` value. */
  token?: string;
  /** Sent as several `authn-token` values (to provoke the "multiple keys" error). */
  tokens?: readonly string[];
  deadlineMs?: number;
  /** Wait for the channel to connect instead of failing fast while the server is down. */
  waitForReady?: boolean;
  /** Cancels the call when aborted (the client going away without waiting for a deadline). */
  signal?: AbortSignal;
}

export class PachdTestClient {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly constructors = new Map<string, grpc.ServiceClientConstructor>();
  private rawClient: grpc.Client | undefined;

  constructor(
    private readonly address: string,
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    private readonly channelOptions: grpc.ChannelOptions = {},
  ) {}

  /** Calls `/<service>/<method>` and resolves with the decoded response. */
  call<Response>(service: string, method: string, request: object, options: CallOptions = {}): Promise<Response> {
    const client = this.clientFor(service);
    const definition = this.constructorFor(service).service[method];
    if (definition === undefined) throw new Error(`${service} declares no method ${method}`);
    return new Promise<Response>((resolve, reject) => {
      const call = client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        (bytes: Buffer) => definition.responseDeserialize(bytes) as Response,
        request,
        this.metadata(options),
        this.callOptions(options),
        (error, response) => {
          if (error !== null) reject(error);
          else if (response === undefined) reject(new Error('empty response'));
          else resolve(response);
        },
      );
      cancelOnAbort(call, options.signal);
    });
  }

  /** Like call(), but expects a failure and resolves with it; fails if the call succeeds. */
  async failure(
    service: string,
    method: string,
    request: object,
    options: CallOptions = {},
  ): Promise<grpc.ServiceError> {
    let response: unknown;
    try {
      response = await this.call<unknown>(service, method, request, options);
    } catch (error) {
      return error as grpc.ServiceError;
    }
    throw new Error(`${service}/${method} succeeded unexpectedly: ${JSON.stringify(response)}`);
  }

  /** Calls any path with raw request bytes and resolves with the raw response bytes. */
  rawCall(path: string, request: Buffer, options: CallOptions = {}): Promise<Buffer> {
    this.rawClient ??= new grpc.Client(this.address, this.credentials, this.channelOptions);
    const client = this.rawClient;
    return new Promise((resolve, reject) => {
      const call = client.makeUnaryRequest(
        path,
        (value: Buffer) => value,
        (bytes: Buffer) => bytes,
        request,
        this.metadata(options),
        this.callOptions(options),
        (error, response) => {
          if (error !== null) reject(error);
          else resolve(response ?? Buffer.alloc(0));
        },
      );
      cancelOnAbort(call, options.signal);
    });
  }

  /** Calls any path with an empty request; for paths no .proto declares. Expects a failure. */
  async rawFailure(path: string, options: CallOptions = {}): Promise<grpc.ServiceError> {
    try {
      await this.rawCall(path, Buffer.alloc(0), options);
    } catch (error) {
      return error as grpc.ServiceError;
    }
    throw new Error(`${path} succeeded unexpectedly`);
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    this.rawClient?.close();
    this.rawClient = undefined;
  }

  private callOptions(options: CallOptions): grpc.CallOptions {
    return { deadline: Date.now() + (options.deadlineMs ?? 5000) };
  }

  private metadata(options: CallOptions): grpc.Metadata {
    const metadata = new grpc.Metadata(options.waitForReady === true ? { waitForReady: true } : {});
    if (options.token !== undefined) metadata.add(AUTH_TOKEN_METADATA_KEY, options.token);
    for (const token of options.tokens ?? []) metadata.add(AUTH_TOKEN_METADATA_KEY, token);
    return metadata;
  }

  private constructorFor(service: string): grpc.ServiceClientConstructor {
    let clientClass = this.constructors.get(service);
    if (clientClass === undefined) {
      clientClass = clientConstructor(pachdProtoDefinitions(), service);
      this.constructors.set(service, clientClass);
    }
    return clientClass;
  }

  private clientFor(service: string): grpc.Client {
    let client = this.clients.get(service);
    if (client === undefined) {
      const ClientClass = this.constructorFor(service);
      client = new ClientClass(this.address, this.credentials, this.channelOptions);
      this.clients.set(service, client);
    }
    return client;
  }
}

function cancelOnAbort(call: grpc.ClientUnaryCall, signal: AbortSignal | undefined): void {
  if (signal === undefined) return;
  if (signal.aborted) call.cancel();
  else signal.addEventListener('abort', () => call.cancel(), { once: true });
}

/** sha256 hex, computed independently of the stand-in's own helper. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
